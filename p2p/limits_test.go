package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// A protocol limited to 2 inbound streams per peer refuses the third while
// the first two are open, and accepts again once one closes; other
// protocols are not affected.
func TestProtocolLimitPerPeer(t *testing.T) {
	const limited, free = "/test/limited/1", "/test/free/1"
	ka, _ := newKey(t)
	kb, _ := newKey(t)
	a, err := NewHost(HostConfig{Identity: ka, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		ProtocolLimits: []ProtocolLimit{{Protocol: limited, Inbound: 100, Outbound: 100, PeerInbound: 2, PeerOutbound: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewHost(HostConfig{Identity: kb, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := make(chan struct{})
	hold := func(s network.Stream) {
		_, _ = s.Write([]byte{1}) // accepted
		<-release
		_ = s.Close()
	}
	a.SetStreamHandler(limited, hold)
	a.SetStreamHandler(free, hold)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	open := func(proto string) error {
		s, err := b.NewStream(ctx, a.ID(), protocol.ID("/test/"+proto+"/1"))
		if err != nil {
			return err
		}
		if _, err := s.Write([]byte{0}); err != nil {
			return err
		}
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(s, make([]byte, 1))
		return err
	}
	for i := range 2 {
		if err := open("limited"); err != nil {
			t.Fatalf("stream %d refused: %v", i+1, err)
		}
	}
	if err := open("limited"); err == nil {
		t.Fatal("a third concurrent stream of the limited protocol was accepted")
	}
	for i := range 4 {
		if err := open("free"); err != nil {
			t.Fatalf("stream %d of another protocol refused: %v", i+1, err)
		}
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for open("limited") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the limited protocol still refuses streams after the others closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
