package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

var scope = tgsync.Scope{Run: "r1", Plan: "p", Case: "c"}

// clients runs each test against the in-process client and the websocket
// client of one service, over TCP and over a Unix socket.
func clients(t *testing.T) map[string]func(t *testing.T) (tgsync.Client, *tgsync.Service) {
	return map[string]func(t *testing.T) (tgsync.Client, *tgsync.Service){
		"inmem": func(t *testing.T) (tgsync.Client, *tgsync.Service) {
			svc := tgsync.NewService()
			t.Cleanup(func() { svc.Close() })
			return tgsync.NewInmemClient(svc, scope), svc
		},
		"websocket": func(t *testing.T) (tgsync.Client, *tgsync.Service) {
			svc, addr := serve(t)
			c, err := tgsync.DialWS(context.Background(), addr, scope)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c, svc
		},
		"websocket-unix": func(t *testing.T) (tgsync.Client, *tgsync.Service) {
			sock := filepath.Join(shortTempDir(t), "sync.sock")
			t.Setenv(runtime.EnvSyncServiceSocket, sock)
			addr, err := tgsync.AddrFromEnv()
			if err != nil || addr != sock {
				t.Fatalf("AddrFromEnv with %s set = %q, %v; want the socket", runtime.EnvSyncServiceSocket, addr, err)
			}
			svc := serveOn(t, "unix", sock)
			c, err := tgsync.DialWS(context.Background(), addr, scope)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c, svc
		},
	}
}

// shortTempDir is a temporary directory with a path short enough for a
// Unix socket (108 bytes), which t.TempDir's may not be.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "sync")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func serve(t *testing.T) (*tgsync.Service, string) {
	t.Helper()
	svc := tgsync.NewService()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveListener(t, svc, l)
	return svc, l.Addr().String()
}

func serveOn(t *testing.T, network, addr string) *tgsync.Service {
	t.Helper()
	svc := tgsync.NewService()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	serveListener(t, svc, l)
	return svc
}

func serveListener(t *testing.T, svc *tgsync.Service, l net.Listener) {
	srv := &http.Server{Handler: tgsync.Handler(svc, nil)}
	go srv.Serve(l)
	t.Cleanup(func() {
		svc.Close()
		srv.Close()
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBarrier(t *testing.T) {
	for name, mk := range clients(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := mk(t)
			ctx := ctxT(t)
			done := make(chan error, 1)
			go func() { done <- c.Barrier(ctx, "ready", 3) }()
			for i := 1; i <= 2; i++ {
				if _, err := c.SignalEntry(ctx, "ready"); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-done:
				t.Fatalf("barrier returned %v before its target", err)
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.SignalEntry(ctx, "ready"); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("barrier: %v", err)
			}
			// A barrier already reached returns at once; target 0 too.
			if err := c.Barrier(ctx, "ready", 2); err != nil {
				t.Fatal(err)
			}
			if err := c.Barrier(ctx, "never", 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignalCounts(t *testing.T) {
	for name, mk := range clients(t) {
		t.Run(name, func(t *testing.T) {
			c, svc := mk(t)
			ctx := ctxT(t)
			const n = 50
			seqs := make(chan int64, n)
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				go func() {
					s, err := c.SignalEntry(ctx, "counted")
					seqs <- s
					errs <- err
				}()
			}
			seen := map[int64]bool{}
			for i := 0; i < n; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
				s := <-seqs
				if s < 1 || s > n || seen[s] {
					t.Fatalf("sequence %d out of range or repeated", s)
				}
				seen[s] = true
			}
			if got := svc.Count(scope.StateKey("counted")); got != n {
				t.Fatalf("counter %d, want %d", got, n)
			}
			// States of another run are separate.
			other := tgsync.NewInmemClient(svc, tgsync.Scope{Run: "r2", Plan: "p", Case: "c"})
			if s, _ := other.SignalEntry(ctx, "counted"); s != 1 {
				t.Fatalf("other run's counter %d, want 1", s)
			}
		})
	}
}

type item struct {
	N int    `json:"n"`
	S string `json:"s"`
}

func TestTopicReplay(t *testing.T) {
	for name, mk := range clients(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := mk(t)
			ctx := ctxT(t)
			for i := 1; i <= 3; i++ {
				seq, err := c.Publish(ctx, "things", item{N: i, S: fmt.Sprint("x", i)})
				if err != nil {
					t.Fatal(err)
				}
				if seq != int64(i) {
					t.Fatalf("publish %d got seq %d", i, seq)
				}
			}
			// A late subscriber sees the history, then live items.
			sub, err := c.Subscribe(ctx, "things")
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				c.Publish(ctx, "things", item{N: 4, S: "x4"})
			}()
			for i := 1; i <= 4; i++ {
				var it item
				if err := sub.Next(ctx, &it); err != nil {
					t.Fatal(err)
				}
				if it.N != i || it.S != fmt.Sprint("x", i) {
					t.Fatalf("item %d is %+v", i, it)
				}
			}
			got, err := tgsync.Collect[item](ctx, c, "things", 4)
			if err != nil || len(got) != 4 || got[3].N != 4 {
				t.Fatalf("collect: %v %+v", err, got)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	for name, mk := range clients(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := mk(t)
			ctx := ctxT(t)

			bctx, bcancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Barrier(bctx, "never", 5) }()
			time.Sleep(20 * time.Millisecond)
			bcancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled barrier returned %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("cancelled barrier did not return")
			}

			sctx, scancel := context.WithCancel(ctx)
			sub, err := c.Subscribe(sctx, "quiet")
			if err != nil {
				t.Fatal(err)
			}
			scancel()
			select {
			case _, ok := <-sub.C:
				if ok {
					t.Fatal("cancelled subscription delivered an item")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("cancelled subscription not closed")
			}
			if !errors.Is(sub.Err(), context.Canceled) {
				t.Fatalf("subscription error %v", sub.Err())
			}
			// The client still works after cancels.
			if _, err := c.SignalEntry(ctx, "after"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWireFormat speaks the raw protocol, as Testground's SDK does.
func TestWireFormat(t *testing.T) {
	_, addr := serve(t)
	ctx := ctxT(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(s string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() map[string]any {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	send(`{"id":"1","publish":{"topic":"t","payload":{"a":1}}}`)
	if r := recv(); r["id"] != "1" || r["publish"].(map[string]any)["seq"] != 1.0 {
		t.Fatalf("publish response %v", r)
	}
	send(`{"id":"2","subscribe":{"topic":"t"}}`)
	if r := recv(); r["id"] != "2" || r["subscribe"] != `{"a":1}` {
		t.Fatalf("subscribe response %v", r)
	}
	send(`{"id":"3","signal_entry":{"state":"s"}}`)
	if r := recv(); r["signal_entry"].(map[string]any)["seq"] != 1.0 {
		t.Fatalf("signal response %v", r)
	}
	send(`{"id":"4","barrier":{"state":"s","target":1}}`)
	if r := recv(); r["id"] != "4" || r["error"] != "" {
		t.Fatalf("barrier response %v", r)
	}
	send(`{"id":"5","barrier":{"state":"s","target":-1}}`)
	if r := recv(); r["id"] != "5" || r["error"] == "" {
		t.Fatalf("bad request accepted: %v", r)
	}
	send(`{"id":"2","is_cancel":true}`)
	send(`{"id":"6","publish":{"topic":"t","payload":2}}`)
	if r := recv(); r["id"] != "6" {
		t.Fatalf("after cancel got %v (the cancelled subscription still delivers?)", r)
	}
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"id":"1","publish":{"topic":"t","payload":null}}`, true},
		{`{"id":"1","publish":{"topic":"t"}}`, false},
		{`{"id":"1","subscribe":{"topic":"t"},"extra":1}`, true},
		{`{"id":"1","is_cancel":true}`, true},
		{`{"id":"1","is_cancel":true,"subscribe":{"topic":"t"}}`, false},
		{`{"id":"","subscribe":{"topic":"t"}}`, false},
		{`{"id":"1"}`, false},
		{`{"id":"1","barrier":{"state":"s","target":1},"signal_entry":{"state":"s"}}`, false},
		{`{"id":"1","barrier":{"state":"","target":1}}`, false},
		{`{"id":"1","signal_entry":{"state":"s"}} {}`, false},
		{`[]`, false},
	} {
		_, err := tgsync.DecodeRequest([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeRequest(%s): err %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, tgsync.ErrBadRequest) {
			t.Errorf("DecodeRequest(%s): %v does not wrap ErrBadRequest", tc.in, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","publish":{"topic":"t","payload":{"a":[1,2]}}}`,
		`{"id":"2","subscribe":{"topic":"t"}}`,
		`{"id":"3","barrier":{"state":"s","target":4}}`,
		`{"id":"4","signal_entry":{"state":"s"}}`,
		`{"id":"5","is_cancel":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := tgsync.DecodeRequest(b)
		if err != nil {
			if r != nil || !errors.Is(err, tgsync.ErrBadRequest) {
				t.Fatalf("error %v with request %v", err, r)
			}
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("decoded request fails Check: %v", err)
		}
		// What decodes re-encodes and decodes to the same request.
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := tgsync.DecodeRequest(again)
		if err != nil {
			t.Fatalf("re-encoded request %s does not decode: %v", again, err)
		}
		if r2.ID != r.ID || r2.IsCancel != r.IsCancel {
			t.Fatalf("round trip changed the request: %s", again)
		}
	})
}

// TestCancelRacesWrite cancels requests while others are being written:
// the connection must survive (a cancelled write context used to close it).
func TestCancelRacesWrite(t *testing.T) {
	for name, mk := range clients(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := mk(t)
			ctx := ctxT(t)
			if _, err := c.SignalEntry(ctx, "open"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200; i++ {
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan error, 2)
				go func() { done <- c.Barrier(rctx, "open", 1) }()
				go func() { done <- c.Barrier(rctx, "never", 1) }()
				if err := <-done; err != nil {
					t.Fatalf("iteration %d: %v", i, err)
				}
				cancel()
				<-done
			}
			if _, err := c.SignalEntry(ctx, "still-works"); err != nil {
				t.Fatalf("client broken after cancels: %v", err)
			}
		})
	}
}
