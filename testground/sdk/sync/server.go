package sync

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	gosync "sync"
	"time"

	"github.com/coder/websocket"
)

// writeTimeout bounds writing one response.
const writeTimeout = 10 * time.Second

// Handler serves svc to websocket clients speaking Testground's
// sync-service protocol: one JSON Request per text message in, JSON
// Responses out. A subscription or barrier is cancelled by a request with
// its ID and is_cancel set, or when the connection ends.
func Handler(svc *Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			log.Debug("sync: websocket upgrade failed", "err", err)
			return
		}
		ws.SetReadLimit(MaxRequestSize)
		ctx, cancel := context.WithCancel(r.Context())
		c := &conn{ws: ws, svc: svc, log: log, ctx: ctx, cancel: cancel, out: make(chan *Response, 256), pending: map[string]context.CancelFunc{}}
		c.serve()
	})
}

type conn struct {
	ws     *websocket.Conn
	svc    *Service
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	out    chan *Response
	wg     gosync.WaitGroup

	mu      gosync.Mutex
	pending map[string]context.CancelFunc
}

func (c *conn) serve() {
	defer c.cancel()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	c.cancel()
	c.wg.Wait()
	<-writerDone
	switch {
	case errors.Is(err, context.Canceled),
		websocket.CloseStatus(err) == websocket.StatusNormalClosure,
		websocket.CloseStatus(err) == websocket.StatusGoingAway:
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	default:
		c.log.Debug("sync: connection ended", "err", err)
		_ = c.ws.Close(websocket.StatusInternalError, "")
	}
}

func (c *conn) readLoop() error {
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			c.send(&Response{Error: "sync: requests are JSON text messages"})
			continue
		}
		req, err := DecodeRequest(b)
		if err != nil {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(b, &id)
			if len(id.ID) > MaxIDLen {
				id.ID = ""
			}
			c.send(&Response{ID: id.ID, Error: err.Error()})
			continue
		}
		c.dispatch(req)
	}
}

func (c *conn) send(r *Response) {
	select {
	case c.out <- r:
	case <-c.ctx.Done():
	}
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case r := <-c.out:
			b, err := json.Marshal(r)
			if err != nil {
				continue
			}
			wctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
			err = c.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		}
	}
}

// register makes the request with id cancellable; false if the ID is
// already pending.
func (c *conn) register(id string) (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.pending[id]; dup {
		return nil, false
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.pending[id] = cancel
	return ctx, true
}

func (c *conn) unregister(id string) {
	c.mu.Lock()
	cancel := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (c *conn) dispatch(req *Request) {
	if req.IsCancel {
		c.unregister(req.ID)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		switch {
		case req.PublishRequest != nil:
			seq, err := c.svc.Publish(c.ctx, req.PublishRequest.Topic, req.PublishRequest.Payload)
			if err != nil {
				c.send(&Response{ID: req.ID, Error: err.Error()})
				return
			}
			c.send(&Response{ID: req.ID, PublishResponse: &PublishResponse{Seq: seq}})
		case req.SignalEntryRequest != nil:
			seq, err := c.svc.SignalEntry(c.ctx, req.SignalEntryRequest.State)
			if err != nil {
				c.send(&Response{ID: req.ID, Error: err.Error()})
				return
			}
			c.send(&Response{ID: req.ID, SignalEntryResponse: &SignalEntryResponse{Seq: seq}})
		case req.BarrierRequest != nil:
			ctx, ok := c.register(req.ID)
			if !ok {
				c.send(&Response{ID: req.ID, Error: "sync: request id " + req.ID + " is already pending"})
				return
			}
			defer c.unregister(req.ID)
			err := c.svc.Barrier(ctx, req.BarrierRequest.State, req.BarrierRequest.Target)
			switch {
			case err == nil:
				c.send(&Response{ID: req.ID})
			case ctx.Err() != nil:
				// cancelled by the client or the connection ended
			default:
				c.send(&Response{ID: req.ID, Error: err.Error()})
			}
		case req.SubscribeRequest != nil:
			ctx, ok := c.register(req.ID)
			if !ok {
				c.send(&Response{ID: req.ID, Error: "sync: request id " + req.ID + " is already pending"})
				return
			}
			defer c.unregister(req.ID)
			for i := 0; ; i++ {
				item, err := c.svc.Item(ctx, req.SubscribeRequest.Topic, i)
				if err != nil {
					if ctx.Err() == nil {
						c.send(&Response{ID: req.ID, Error: err.Error()})
					}
					return
				}
				c.send(&Response{ID: req.ID, SubscribeResponse: string(item)})
			}
		}
	}()
}
