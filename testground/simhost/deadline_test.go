package simhost_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/shoalnet/shoal/testground/simhost"
)

func TestDeadlines(t *testing.T) {
	mn := mocknet.New()
	defer mn.Close()
	a0, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	b0, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	a, b := simhost.WithDeadlines(a0), simhost.WithDeadlines(b0)
	got := make(chan []byte, 1)
	b.SetStreamHandler("/t", func(s network.Stream) {
		defer s.Close()
		_ = s.SetReadDeadline(time.Now().Add(time.Second))
		buf, _ := io.ReadAll(s)
		got <- buf
	})
	ctx := context.Background()
	s, err := a.NewStream(ctx, b.ID(), "/t")
	if err != nil {
		t.Fatal(err)
	}
	// Within the deadline, reads and writes work.
	_ = s.SetDeadline(time.Now().Add(time.Second))
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	if b := <-got; string(b) != "hi" {
		t.Fatalf("handler read %q", b)
	}

	// A read that outlives its deadline fails as a timeout.
	b.SetStreamHandler("/silent", func(s network.Stream) { time.Sleep(2 * time.Second) })
	s2, err := a.NewStream(ctx, b.ID(), "/silent")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = s2.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err = s2.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if took := time.Since(start); took < 90*time.Millisecond || took > time.Second {
		t.Fatalf("deadline fired after %s", took)
	}
}
