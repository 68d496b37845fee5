package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
)

func TestHolePunchLog(t *testing.T) {
	l := NewHolePunchLog()
	a, b := peer.ID("a"), peer.ID("b")
	changed := l.Changed()
	now := time.Now().UnixNano()
	l.Trace(&holepunch.Event{Remote: a, Timestamp: now, Evt: &holepunch.HolePunchAttemptEvt{Attempt: 1}})
	l.Trace(&holepunch.Event{Remote: a, Timestamp: now, Evt: &holepunch.EndHolePunchEvt{Success: false, Error: "refused"}})
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by a recorded attempt")
	}
	l.Trace(&holepunch.Event{Remote: a, Timestamp: now, Evt: &holepunch.HolePunchAttemptEvt{Attempt: 2}})
	l.Trace(&holepunch.Event{Remote: a, Timestamp: now, Evt: &holepunch.EndHolePunchEvt{Success: true}})
	l.Trace(&holepunch.Event{Remote: b, Timestamp: now, Evt: &holepunch.DirectDialEvt{Success: false, Error: "x"}})
	l.Trace(&holepunch.Event{Remote: b, Timestamp: now, Evt: &holepunch.ProtocolErrorEvt{Error: "no public address"}})
	got := l.Recent()
	if len(got) != 4 {
		t.Fatalf("recorded %d attempts, want 4: %+v", len(got), got)
	}
	if got[0].Attempt != 1 || got[0].Success || got[1].Attempt != 2 || !got[1].Success || got[2].Kind != "direct_dial" {
		t.Fatalf("attempts recorded wrong: %+v", got)
	}
	// A failed direct dial is not a failed hole punch; a protocol error is.
	if l.Failures(a) != 1 || l.Failures(b) != 1 {
		t.Fatalf("failures a=%d b=%d, want 1 and 1", l.Failures(a), l.Failures(b))
	}
	for i := 0; i < 2*holePunchLogSize; i++ {
		l.Trace(&holepunch.Event{Remote: b, Timestamp: now, Evt: &holepunch.EndHolePunchEvt{}})
	}
	if n := len(l.Recent()); n != holePunchLogSize {
		t.Fatalf("log holds %d attempts, want it bounded at %d", n, holePunchLogSize)
	}
	var nilLog *HolePunchLog
	if nilLog.Failures(a) != 0 {
		t.Fatal("nil log")
	}
}

func TestValidateReachability(t *testing.T) {
	for _, r := range []string{"", "public", "private"} {
		if err := ValidateReachability(r); err != nil {
			t.Errorf("%q: %v", r, err)
		}
	}
	if err := ValidateReachability("Public"); err == nil || !strings.Contains(err.Error(), `"Public"`) {
		t.Fatalf("error = %v", err)
	}
	if _, err := natOptions(NATConfig{Reachability: "x"}, nil, nil); err == nil {
		t.Fatal("natOptions took a bad reachability")
	}
}

// Two real hosts on loopback: the connection is direct, and the relay
// helpers tell circuit addresses apart.
func TestConnTypeAndRelayAddrs(t *testing.T) {
	newHost := func() host.Host {
		k, _, _ := crypto.GenerateEd25519Key(nil)
		h, err := NewHost(HostConfig{Identity: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NAT: NATConfig{HolePunches: NewHolePunchLog()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b := newHost(), newHost()
	if got := ConnType(a, b.ID()); got != ConnNone {
		t.Fatalf("before connecting: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if got := ConnType(a, b.ID()); got != ConnDirect || !HasDirectConn(a, b.ID()) {
		t.Fatalf("after connecting over TCP: %q", got)
	}
	circuit := ma.StringCast("/ip4/100.64.0.1/tcp/4280/p2p/" + b.ID().String() + "/p2p-circuit")
	if !IsRelayAddr(circuit) || IsRelayAddr(b.Addrs()[0]) {
		t.Fatal("IsRelayAddr")
	}
	if len(RelaysInUse(a)) != 0 {
		t.Fatal("a public loopback host holds no relay reservation")
	}
	// A circuit address in a bootstrap list is valid (relay then /p2p-circuit).
	if _, err := ParseBootstrap([]string{circuit.String() + "/p2p/" + a.ID().String()}); err != nil {
		t.Fatal(err)
	}
}
