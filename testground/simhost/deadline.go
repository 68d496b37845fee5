package simhost

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// WithDeadlines wraps a mocknet host so that its streams honour read and
// write deadlines. Mocknet streams accept SetDeadline and ignore it; real
// transports (yamux, QUIC) enforce it, and Shoal's job protocol relies on
// it to notice an executor that went silent (heartbeat deadlines). A
// wrapped stream whose deadline passes while a Read or Write blocks is
// reset, and the call returns os.ErrDeadlineExceeded (a net.Error whose
// Timeout() is true), as a timed-out stream would.
func WithDeadlines(h host.Host) host.Host { return &dlHost{Host: h} }

type dlHost struct{ host.Host }

func (h *dlHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return &dlStream{Stream: s}, nil
}

func (h *dlHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(&dlStream{Stream: s}) })
}

func (h *dlHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, func(s network.Stream) { handler(&dlStream{Stream: s}) })
}

type dlStream struct {
	network.Stream
	mu       sync.Mutex
	rdl, wdl time.Time
	expired  bool
}

func (s *dlStream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	s.rdl, s.wdl = t, t
	s.mu.Unlock()
	return nil
}

func (s *dlStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.rdl = t
	s.mu.Unlock()
	return nil
}

func (s *dlStream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.wdl = t
	s.mu.Unlock()
	return nil
}

func (s *dlStream) Read(b []byte) (int, error) {
	return s.io(true, b)
}

func (s *dlStream) Write(b []byte) (int, error) {
	return s.io(false, b)
}

// io runs one Read or Write under its deadline.
func (s *dlStream) io(read bool, b []byte) (int, error) {
	s.mu.Lock()
	dl, expired := s.wdl, s.expired
	if read {
		dl = s.rdl
	}
	s.mu.Unlock()
	if expired {
		return 0, os.ErrDeadlineExceeded
	}
	call := s.Stream.Write
	if read {
		call = s.Stream.Read
	}
	if dl.IsZero() {
		return call(b)
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, os.ErrDeadlineExceeded
	}
	t := time.AfterFunc(d, func() {
		s.mu.Lock()
		s.expired = true
		s.mu.Unlock()
		_ = s.Stream.Reset()
	})
	n, err := call(b)
	if !t.Stop() && err != nil {
		s.mu.Lock()
		exp := s.expired
		s.mu.Unlock()
		if exp {
			return n, os.ErrDeadlineExceeded
		}
	}
	return n, err
}
