package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalnet/shoal/content"
)

// Watching the node: GET /metrics (Prometheus text, outside Prefix, where
// scrapers look for it), the node-wide event stream the dashboard follows,
// and the providers of a CID (which node holds a job's input). All of them
// are behind the guard and the token like every route.

// mediaSSE is the media type of server-sent events.
const mediaSSE = "text/event-stream"

// sseHeartbeat is how often an idle event stream sends a comment, so that
// proxies and the browser see it alive.
const sseHeartbeat = 15 * time.Second

func (s *Server) observeRoutes() {
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.n.Metrics.Registry(), promhttp.HandlerOpts{ErrorLog: promLog{}}))
	s.Handle("GET /events", s.events)
	s.Handle("GET /providers", s.providers)
}

// promLog sends the metrics handler's errors to the API's log.
type promLog struct{}

func (promLog) Println(v ...any) { log.Warn("metrics", "err", fmt.Sprint(v...)) }

// NodeEvent is one event of GET /events: a job of this node changed
// (Job), or a peer connected or disconnected (Peer).
type NodeEvent struct {
	Kind string         `json:"kind"` // job, peer
	Job  *NodeJobEvent  `json:"job,omitempty"`
	Peer *NodePeerEvent `json:"peer,omitempty"`
}

// NodeJobEvent is an event of one of this node's jobs, with the job's state
// after it.
type NodeJobEvent struct {
	ID    string   `json:"id"`
	State JobState `json:"state"`
	Event Event    `json:"event"`
}

// NodePeerEvent is a change of a peer's connectedness.
type NodePeerEvent struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
}

// events streams the node's events as server-sent events (each data line
// a NodeEvent), from now on, until the client goes away. A client that
// does not keep up misses events and re-reads what it shows.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	jobs, stopJobs := s.n.Market.Jobs().WatchAll()
	defer stopJobs()
	sub, err := s.n.Host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	defer sub.Close()
	w.Header().Set("Content-Type", mediaSSE)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	out := newSSE(w)
	out.comment("shoal events")
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case <-tick.C:
			out.comment("heartbeat")
		case e, ok := <-jobs:
			if !ok {
				return nil
			}
			x := eventOf(e.Event)
			out.send(NodeEvent{Kind: "job", Job: &NodeJobEvent{ID: e.Job, State: JobState(e.State), Event: x}})
		case ev, ok := <-sub.Out():
			if !ok {
				return nil
			}
			c := ev.(event.EvtPeerConnectednessChanged)
			out.send(NodeEvent{Kind: "peer", Peer: &NodePeerEvent{ID: c.Peer.String(), Connected: c.Connectedness == network.Connected}})
		}
	}
}

// ProvidersResponse is GET /providers: the peers the DHT lists as holding
// a CID, and whether this node holds all of it.
type ProvidersResponse struct {
	CID       string   `json:"cid"`
	Local     bool     `json:"local"`
	Providers []string `json:"providers"`
}

// maxProvidersListed bounds GET /providers.
const maxProvidersListed = 100

// providers asks the DHT for the providers of ?arg (at most ?max, default
// 20, within ?timeout, default 5 s).
func (s *Server) providers(w http.ResponseWriter, r *http.Request) error {
	c, err := content.ParseCID(r.URL.Query().Get("arg"))
	if err != nil {
		return BadRequest("%v", err)
	}
	limit := 20
	if m := r.URL.Query().Get("max"); m != "" {
		if limit, err = strconv.Atoi(m); err != nil || limit <= 0 || limit > maxProvidersListed {
			return BadRequest("invalid max %q: want 1 to %d", m, maxProvidersListed)
		}
	}
	timeout, err := queryDuration(r, "timeout", 5*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	resp := ProvidersResponse{CID: c.String(), Providers: []string{}}
	if held, total, err := s.n.Content.LocalBytes(ctx, c); err == nil && total > 0 && held >= total {
		resp.Local = true
	}
	for ai := range s.n.DHT.FindProvidersAsync(ctx, c, limit) {
		if ai.ID == s.n.ID() {
			resp.Local = true
			continue
		}
		resp.Providers = append(resp.Providers, ai.ID.String())
	}
	writeJSON(w, resp)
	return nil
}
