package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/shoalnet/shoal/bidding/market"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/shoalnet/shoal/internal/logging"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/p2p"
)

var log = logging.Logger("api")

// Server serves a node over HTTP.
type Server struct {
	n     *node.Node
	guard *guard
	mux   *http.ServeMux
	srv   *http.Server
	ln    net.Listener
	// patterns are the routes Handle registered, for the test that
	// compares them with the OpenAPI document.
	patterns []string
	// closing is closed when Close starts: endless streams (GET /events)
	// end then, so that Shutdown does not wait for them.
	closing   chan struct{}
	closeOnce sync.Once
}

// ErrNoToken means Listen was given no API token.
var ErrNoToken = errors.New("API: no token")

// Listen binds addr (host:port) and starts serving n. Every request must
// carry token (Authorization: Bearer), loopback included, name the API's
// own address as Host, come from no other web origin, and a mutating call
// must have a type no web page can send (see guard). An empty token is
// refused.
func Listen(n *node.Node, addr, token string) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("invalid API address %q: %w", addr, err)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: every client must authenticate, loopback included (the daemon reads it from $SHOAL_PATH/api.token)", ErrNoToken)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("API listen on %s: %w", addr, err)
	}
	s := &Server{n: n, guard: newGuard(token, addr, ln.Addr()), mux: http.NewServeMux(), ln: ln, closing: make(chan struct{})}
	s.routes()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, letting in-flight requests finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

// Handle registers an extra route ("METHOD /path") with the server; handlers
// return an error that is written as a JSON error body.
func (s *Server) Handle(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	method, path, _ := strings.Cut(pattern, " ")
	s.patterns = append(s.patterns, method+" "+Prefix+path)
	s.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := s.guard.check(r); e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
		}
		log.Debug("API request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr, "code", e.Code)
		writeError(w, e)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.Handle("GET /id", s.id)
	s.Handle("GET /version", s.version)
	s.Handle("GET /peers", s.peers)
	s.Handle("GET /nodes", s.nodes)
	s.doctorRoutes()
	// The document is behind the token like every route: one rule, no
	// exception in the guard (docs/openapi.json holds the same document).
	s.Handle("GET /openapi.json", s.openapi)
	s.contentRoutes()
	s.dirRoutes()
	s.carRoutes()
	s.jobRoutes()
	s.workflowRoutes()
	s.orgRoutes()
	s.observeRoutes()
	s.dashboardRoutes()
	if os.Getenv("SHOAL_PPROF") != "" {
		// Profiling for benchmarks, behind the token like every route:
		// curl -H "Authorization: Bearer $(cat $REPO/api.token)" http://API/debug/pprof/profile > cpu.pprof
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	s.mux.HandleFunc("/", s.noRoute)
}

// noRoute answers a request no route took: 405 method_not_allowed, with
// Allow, when the path is a route's under another method (the catch-all
// "/" would otherwise hide ServeMux's own 405), else 404 not_found.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s %s: method not allowed; this endpoint takes %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	writeError(w, Errorf(http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

func (s *Server) id(w http.ResponseWriter, r *http.Request) error {
	n := s.n
	resp := IDResponse{
		ID:      n.ID().String(),
		Version: node.Version,
		Engines: n.Engines(),
		Repo:    n.RepoPath(),
		Peers:   len(n.Host.Network().Peers()),
		Private: n.Private(),
	}
	if n.Market != nil {
		resp.TopicPeers = n.Market.TopicPeers()
		resp.Executions = n.Market.Executions()
	}
	for _, a := range n.Host.Addrs() {
		resp.Addrs = append(resp.Addrs, a.String()+"/p2p/"+n.ID().String())
	}
	writeJSON(w, resp)
	return nil
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, VersionResponse{Version: node.Version, Go: runtime.Version()})
	return nil
}

// peers lists connected peers. With ?min=N it first waits (up to ?timeout,
// default 10 s) until at least N peers are connected, driven by connection
// events rather than polling.
func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	h := s.n.Host
	if m := r.URL.Query().Get("min"); m != "" {
		min, err := strconv.Atoi(m)
		if err != nil || min < 0 {
			return BadRequest("invalid min %q: want a number of peers", m)
		}
		timeout, err := queryDuration(r, "timeout", 10*time.Second)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if err := s.n.WaitPeers(ctx, min); err != nil {
			return Errorf(http.StatusGatewayTimeout, CodeTimeout, "fewer than %d peers connected after %s", min, timeout)
		}
		// With ?topic=1 also wait until as many peers listen for jobs.
		if r.URL.Query().Get("topic") != "" && s.n.Market != nil {
			if err := s.n.Market.WaitTopicPeers(ctx, min); err != nil {
				return Errorf(http.StatusGatewayTimeout, CodeTimeout, "fewer than %d peers on the job topic after %s", min, timeout)
			}
		}
	}
	out := []Peer{}
	for _, c := range h.Network().Conns() {
		p := Peer{ID: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String(), Direction: dirString(c.Stat().Direction), Connection: p2p.ConnType(h, c.RemotePeer())}
		if l := h.Peerstore().LatencyEWMA(c.RemotePeer()); l > 0 {
			p.LatencyMS = float64(l.Microseconds()) / 1000
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	// One line per peer: keep the first connection of each.
	dedup := out[:0]
	for i, p := range out {
		if i > 0 && p.ID == out[i-1].ID {
			continue
		}
		dedup = append(dedup, p)
	}
	writeJSON(w, dedup)
	return nil
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) error {
	q := p2p.NodeQuery{Engine: r.URL.Query().Get("engine"), Labels: map[string]string{}}
	for _, l := range r.URL.Query()["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return BadRequest("invalid label %q: want key=value", l)
		}
		q.Labels[k] = v
	}
	timeout, err := queryDuration(r, "timeout", 10*time.Second)
	if err != nil {
		return err
	}
	q.Timeout = timeout
	min := 0
	if m := r.URL.Query().Get("min"); m != "" {
		if min, err = strconv.Atoi(m); err != nil || min < 0 {
			return BadRequest("invalid min %q: want a number of nodes", m)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	nodes, err := s.n.FindNodesAtLeast(ctx, q, min)
	if err != nil {
		if ctx.Err() != nil {
			return Errorf(http.StatusGatewayTimeout, CodeTimeout, "found %d of the %d nodes wanted within %s", len(nodes), min, timeout)
		}
		return err
	}
	if nodes == nil {
		nodes = []*p2p.Capabilities{}
	}
	resp := NodesResponse{Nodes: nodes}
	if s.n.Market != nil {
		for _, n := range nodes {
			rep := s.n.Market.Reputations().Get(n.Peer)
			if rep.LastSeen.IsZero() {
				continue // never used as an executor
			}
			if resp.Reputation == nil {
				resp.Reputation = map[string]market.PeerReputation{}
			}
			resp.Reputation[n.Peer.String()] = market.PeerReputation{Peer: n.Peer.String(), Reputation: rep, Score: rep.Score()}
		}
	}
	writeJSON(w, resp)
	return nil
}

func queryDuration(r *http.Request, name string, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, BadRequest("invalid %s %q: want a duration like 10s", name, v)
	}
	return d, nil
}

func dirString(d network.Direction) string {
	switch d {
	case network.DirInbound:
		return "inbound"
	case network.DirOutbound:
		return "outbound"
	}
	return "unknown"
}
