package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	gosync "sync"
	"time"

	"github.com/coder/websocket"
)

// DialTimeout bounds DialWS, retries included: an instance may start before
// the runner's service listens.
const DialTimeout = 30 * time.Second

// WSClient talks to a sync service over a websocket.
type WSClient struct {
	ws     *websocket.Conn
	scope  Scope
	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup

	wmu gosync.Mutex

	mu      gosync.Mutex
	next    int
	pending map[string]*call
	err     error // why the connection ended
}

// call is a request waiting for responses: one for most, a stream for a
// subscription.
type call struct {
	once chan *Response // single-response requests
	sub  *wsSub
}

var _ Client = (*WSClient)(nil)

// AddrFromEnv returns where the sync service is: the path of its Unix
// socket from SHOAL_SYNC_SERVICE_SOCKET (Shoal's extension, for instances
// in network namespaces), else host:port from SYNC_SERVICE_HOST and
// SYNC_SERVICE_PORT (default 5050).
func AddrFromEnv() (string, error) {
	if sock := os.Getenv("SHOAL_SYNC_SERVICE_SOCKET"); sock != "" {
		if !filepath.IsAbs(sock) {
			return "", fmt.Errorf("sync: SHOAL_SYNC_SERVICE_SOCKET=%q is not an absolute path", sock)
		}
		return sock, nil
	}
	host := os.Getenv("SYNC_SERVICE_HOST")
	if host == "" {
		return "", errors.New("sync: SYNC_SERVICE_HOST is not set: the runner did not say where its sync service is")
	}
	port := os.Getenv("SYNC_SERVICE_PORT")
	if port == "" {
		port = "5050"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("sync: SYNC_SERVICE_PORT=%q is not a port", port)
	}
	return net.JoinHostPort(host, port), nil
}

// DialWS connects to the service at addr, host:port or the absolute path
// of a Unix socket, retrying until DialTimeout, and scopes the client to a
// run.
func DialWS(ctx context.Context, addr string, scope Scope) (*WSClient, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	url, opts := "ws://"+addr+"/", (*websocket.DialOptions)(nil)
	if filepath.IsAbs(addr) {
		// The host in the URL is a placeholder: the transport dials the
		// socket whatever the request names.
		var d net.Dialer
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}}
		defer tr.CloseIdleConnections()
		url, opts = "ws://sync-service/", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
	}
	var ws *websocket.Conn
	backoff := 50 * time.Millisecond
	for {
		var err error
		ws, _, err = websocket.Dial(dctx, url, opts)
		if err == nil {
			break
		}
		select {
		case <-dctx.Done():
			return nil, fmt.Errorf("sync: dial %s: %w", addr, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	ws.SetReadLimit(64 << 20)
	cctx, ccancel := context.WithCancel(context.Background())
	c := &WSClient{ws: ws, scope: scope, ctx: cctx, cancel: ccancel, pending: map[string]*call{}}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// Close closes the connection; pending calls fail.
func (c *WSClient) Close() error {
	c.cancel()
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	c.wg.Wait()
	return err
}

func (c *WSClient) readLoop() {
	defer c.wg.Done()
	var err error
	for {
		var typ websocket.MessageType
		var b []byte
		typ, b, err = c.ws.Read(c.ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			continue
		}
		var r Response
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		c.mu.Lock()
		cl := c.pending[r.ID]
		if cl != nil && cl.once != nil {
			delete(c.pending, r.ID)
		}
		c.mu.Unlock()
		switch {
		case cl == nil:
		case cl.once != nil:
			cl.once <- &r
		case r.Error != "":
			c.forget(r.ID)
			cl.sub.end(errors.New(r.Error))
		default:
			cl.sub.add(json.RawMessage(r.SubscribeResponse))
		}
	}
	if err == nil || c.ctx.Err() != nil {
		err = errors.New("sync: client closed")
	} else {
		err = fmt.Errorf("sync: connection lost: %w", err)
	}
	c.mu.Lock()
	c.err = err
	pend := c.pending
	c.pending = map[string]*call{}
	c.mu.Unlock()
	for _, cl := range pend {
		if cl.once != nil {
			cl.once <- &Response{Error: err.Error()}
		} else {
			cl.sub.end(err)
		}
	}
}

func (c *WSClient) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// start registers a call and writes its request.
func (c *WSClient) start(ctx context.Context, req *Request, cl *call) error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.next++
	req.ID = strconv.Itoa(c.next)
	c.pending[req.ID] = cl
	c.mu.Unlock()
	if err := c.write(ctx, req); err != nil {
		c.forget(req.ID)
		return err
	}
	return nil
}

// write sends one request. It never uses the caller's context for the
// write itself: the websocket library closes the whole connection when the
// context of a Write in progress is cancelled, and callers cancel theirs
// freely (a barrier raced by another, a subscription ended).
func (c *WSClient) write(_ context.Context, req *Request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	wctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sync: send request: %w", err)
	}
	return nil
}

// roundTrip sends req and waits for its one response. On ctx's end a
// cancellable request is cancelled on the service.
func (c *WSClient) roundTrip(ctx context.Context, req *Request, cancellable bool) (*Response, error) {
	cl := &call{once: make(chan *Response, 1)}
	if err := c.start(ctx, req, cl); err != nil {
		return nil, err
	}
	select {
	case r := <-cl.once:
		if r.Error != "" {
			return nil, errors.New(r.Error)
		}
		return r, nil
	case <-ctx.Done():
		c.forget(req.ID)
		if cancellable {
			_ = c.write(context.Background(), &Request{ID: req.ID, IsCancel: true})
		}
		return nil, ctx.Err()
	}
}

// Publish implements Client.
func (c *WSClient) Publish(ctx context.Context, topic string, payload any) (int64, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("sync: publish %s: %w", topic, err)
	}
	r, err := c.roundTrip(ctx, &Request{PublishRequest: &PublishRequest{Topic: c.scope.TopicKey(topic), Payload: b}}, false)
	if err != nil {
		return 0, err
	}
	if r.PublishResponse == nil {
		return 0, errors.New("sync: publish answered without a sequence number")
	}
	return r.PublishResponse.Seq, nil
}

// SignalEntry implements Client.
func (c *WSClient) SignalEntry(ctx context.Context, state string) (int64, error) {
	r, err := c.roundTrip(ctx, &Request{SignalEntryRequest: &SignalEntryRequest{State: c.scope.StateKey(state)}}, false)
	if err != nil {
		return 0, err
	}
	if r.SignalEntryResponse == nil {
		return 0, errors.New("sync: signal entry answered without a sequence number")
	}
	return r.SignalEntryResponse.Seq, nil
}

// Barrier implements Client.
func (c *WSClient) Barrier(ctx context.Context, state string, target int) error {
	if target <= 0 {
		return nil
	}
	_, err := c.roundTrip(ctx, &Request{BarrierRequest: &BarrierRequest{State: c.scope.StateKey(state), Target: int64(target)}}, true)
	return err
}

// Subscribe implements Client.
func (c *WSClient) Subscribe(ctx context.Context, topic string) (*Subscription, error) {
	ws := &wsSub{Subscription: newSubscription(), wake: make(chan struct{}, 1)}
	req := &Request{SubscribeRequest: &SubscribeRequest{Topic: c.scope.TopicKey(topic)}}
	if err := c.start(ctx, req, &call{sub: ws}); err != nil {
		return nil, err
	}
	go ws.feed(ctx)
	go func() {
		select {
		case <-ctx.Done():
			c.forget(req.ID)
			_ = c.write(context.Background(), &Request{ID: req.ID, IsCancel: true})
			ws.end(ctx.Err())
		case <-ws.done:
		}
	}()
	return ws.Subscription, nil
}

// wsSub queues the items the read loop receives, so a slow reader of one
// subscription never stalls the connection.
type wsSub struct {
	*Subscription
	qmu    gosync.Mutex
	queue  []json.RawMessage
	ended  bool
	endErr error
	wake   chan struct{}
}

func (s *wsSub) add(item json.RawMessage) {
	s.qmu.Lock()
	s.queue = append(s.queue, item)
	s.qmu.Unlock()
	s.poke()
}

func (s *wsSub) end(err error) {
	s.qmu.Lock()
	if !s.ended {
		s.ended, s.endErr = true, err
	}
	s.qmu.Unlock()
	s.poke()
}

func (s *wsSub) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *wsSub) feed(ctx context.Context) {
	for {
		s.qmu.Lock()
		q := s.queue
		s.queue = nil
		ended, err := s.ended, s.endErr
		s.qmu.Unlock()
		for _, item := range q {
			if !s.push(ctx, item) {
				s.finish(ctx.Err())
				return
			}
		}
		if ended && len(q) == 0 {
			s.finish(err)
			return
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			s.finish(ctx.Err())
			return
		}
	}
}
