package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
)

// holePunchLogSize bounds the attempts a HolePunchLog keeps.
const holePunchLogSize = 64

// HolePunch is one finished hole-punch attempt (or direct dial) with a peer.
type HolePunch struct {
	Peer    peer.ID       `json:"peer"`
	At      time.Time     `json:"at"`
	Kind    string        `json:"kind"` // "hole_punch" or "direct_dial"
	Attempt int           `json:"attempt,omitempty"`
	Success bool          `json:"success"`
	Took    time.Duration `json:"took_ns"`
	Error   string        `json:"error,omitempty"`
}

// HolePunchLog is a holepunch.EventTracer that keeps the last attempts,
// and counts them per peer. Safe for concurrent use.
type HolePunchLog struct {
	mu       sync.Mutex
	recent   []HolePunch
	attempt  map[peer.ID]int // attempt number of the running punch
	failures map[peer.ID]int
	success  map[peer.ID]int
	changed  chan struct{}
}

var _ holepunch.EventTracer = (*HolePunchLog)(nil)

// NewHolePunchLog returns an empty log.
func NewHolePunchLog() *HolePunchLog {
	return &HolePunchLog{attempt: map[peer.ID]int{}, failures: map[peer.ID]int{}, success: map[peer.ID]int{}, changed: make(chan struct{})}
}

// Trace implements holepunch.EventTracer.
func (l *HolePunchLog) Trace(evt *holepunch.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := time.Unix(0, evt.Timestamp)
	switch e := evt.Evt.(type) {
	case *holepunch.HolePunchAttemptEvt:
		l.attempt[evt.Remote] = e.Attempt
		return
	case *holepunch.EndHolePunchEvt:
		l.add(HolePunch{Peer: evt.Remote, At: at, Kind: "hole_punch", Attempt: l.attempt[evt.Remote], Success: e.Success, Took: e.EllapsedTime, Error: e.Error})
	case *holepunch.DirectDialEvt:
		l.add(HolePunch{Peer: evt.Remote, At: at, Kind: "direct_dial", Success: e.Success, Took: e.EllapsedTime, Error: e.Error})
	case *holepunch.ProtocolErrorEvt:
		l.add(HolePunch{Peer: evt.Remote, At: at, Kind: "hole_punch", Error: "protocol: " + e.Error})
	}
}

func (l *HolePunchLog) add(h HolePunch) {
	if h.Success {
		l.success[h.Peer]++
	} else if h.Kind == "hole_punch" {
		l.failures[h.Peer]++
	}
	l.recent = append(l.recent, h)
	if len(l.recent) > holePunchLogSize {
		l.recent = l.recent[len(l.recent)-holePunchLogSize:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Recent returns the last attempts, oldest first.
func (l *HolePunchLog) Recent() []HolePunch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]HolePunch(nil), l.recent...)
}

// Failures is how many hole punches with p failed.
func (l *HolePunchLog) Failures(p peer.ID) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[p]
}

// Changed is closed at the next recorded attempt.
func (l *HolePunchLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// RelayStats is a circuit relay v2 metrics tracer that counts what this
// node's relay service carried. Safe for concurrent use.
type RelayStats struct {
	bytes       atomic.Int64
	circuits    atomic.Int64
	open        atomic.Int64
	reservation atomic.Int64
	active      atomic.Bool
}

var _ relayv2.MetricsTracer = (*RelayStats)(nil)

// RelayStatsSnapshot is what RelayStats counted.
type RelayStatsSnapshot struct {
	Active       bool  `json:"active"`
	Bytes        int64 `json:"bytes_relayed"`
	Circuits     int64 `json:"circuits_total"`
	OpenCircuits int64 `json:"circuits_open"`
	Reservations int64 `json:"reservations_total"`
}

// Snapshot returns the counters.
func (s *RelayStats) Snapshot() RelayStatsSnapshot {
	return RelayStatsSnapshot{Active: s.active.Load(), Bytes: s.bytes.Load(), Circuits: s.circuits.Load(), OpenCircuits: s.open.Load(), Reservations: s.reservation.Load()}
}

// RelayStatus implements relayv2.MetricsTracer.
func (s *RelayStats) RelayStatus(enabled bool) { s.active.Store(enabled) }

// ConnectionOpened implements relayv2.MetricsTracer.
func (s *RelayStats) ConnectionOpened() { s.circuits.Add(1); s.open.Add(1) }

// ConnectionClosed implements relayv2.MetricsTracer.
func (s *RelayStats) ConnectionClosed(time.Duration) { s.open.Add(-1) }

// ConnectionRequestHandled implements relayv2.MetricsTracer.
func (s *RelayStats) ConnectionRequestHandled(pbv2.Status) {}

// ReservationAllowed implements relayv2.MetricsTracer.
func (s *RelayStats) ReservationAllowed(bool) { s.reservation.Add(1) }

// ReservationClosed implements relayv2.MetricsTracer.
func (s *RelayStats) ReservationClosed(int) {}

// ReservationRequestHandled implements relayv2.MetricsTracer.
func (s *RelayStats) ReservationRequestHandled(pbv2.Status) {}

// BytesTransferred implements relayv2.MetricsTracer.
func (s *RelayStats) BytesTransferred(n int) { s.bytes.Add(int64(n)) }
