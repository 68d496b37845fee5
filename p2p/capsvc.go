package p2p

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Defaults for capability publishing (DESIGN.md: refresh 1 min, expiry 5 min).
const (
	DefaultCapRefresh = time.Minute
	DefaultCapTTL     = 5 * time.Minute
	// capRetryMin/Max bound the retry backoff while the routing table is
	// still empty at start-up.
	capRetryMin = 250 * time.Millisecond
	capRetryMax = 10 * time.Second
	// capKickGap is the least time between two publishes that Kick asks
	// for: connections come and go in bursts.
	capKickGap = 5 * time.Second
)

// CapPublisher keeps a node's capability record fresh in the DHT and provides
// its well-known capability keys.
type CapPublisher struct {
	DHT *dht.IpfsDHT
	Key crypto.PrivKey
	// Snapshot returns the current capabilities; the publisher fills in
	// Version, Peer, Seq and Expires.
	Snapshot func() Capabilities
	Refresh  time.Duration // default DefaultCapRefresh
	TTL      time.Duration // default DefaultCapTTL

	mu        sync.Mutex
	lastSeq   uint64
	provided  map[cid.Cid]time.Time
	published chan struct{} // closed after the first successful publish
	kick      chan struct{}
	once      sync.Once
}

// Kick asks for a publish before the next refresh (what the record says
// changed, e.g. its peers), at most one per capKickGap.
func (p *CapPublisher) Kick() {
	p.init()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Published is closed once the record has been stored on at least one other
// peer and its keys provided.
func (p *CapPublisher) Published() <-chan struct{} {
	p.init()
	return p.published
}

func (p *CapPublisher) init() {
	p.once.Do(func() {
		p.published = make(chan struct{})
		p.kick = make(chan struct{}, 1)
		p.provided = map[cid.Cid]time.Time{}
		if p.Refresh <= 0 {
			p.Refresh = DefaultCapRefresh
		}
		if p.TTL <= 0 {
			p.TTL = DefaultCapTTL
		}
	})
}

// Run publishes the record now and then every Refresh until ctx ends,
// retrying with backoff while no peer is reachable.
func (p *CapPublisher) Run(ctx context.Context) {
	p.init()
	backoff := capRetryMin
	first := true
	for {
		err := p.PublishNow(ctx)
		wait := p.Refresh
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("capability record not published yet", "err", err, "retry", backoff)
			wait, backoff = backoff, min(backoff*2, capRetryMax)
		} else {
			backoff = capRetryMin
			if first {
				close(p.published)
				first = false
			}
		}
		last := time.Now()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-p.kick:
			timer.Stop()
			if gap := capKickGap - time.Since(last); gap > 0 && err == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(gap):
				}
			}
		}
	}
}

// Record builds and signs the current record with a fresh sequence number.
func (p *CapPublisher) Record() (*Capabilities, []byte, error) {
	p.init()
	c := p.Snapshot()
	id, err := peer.IDFromPrivateKey(p.Key)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	// Time-based sequence numbers keep growing across restarts.
	seq := uint64(time.Now().UnixNano())
	if seq <= p.lastSeq {
		seq = p.lastSeq + 1
	}
	p.lastSeq = seq
	p.mu.Unlock()
	c.Version, c.Peer, c.Seq = CapVersion, id, seq
	c.Expires = time.Now().Add(p.TTL).UTC().Truncate(time.Second)
	b, err := SealCapabilities(&c, p.Key)
	return &c, b, err
}

// PublishNow stores a fresh record in the DHT and provides the capability
// keys not provided within the last Refresh.
func (p *CapPublisher) PublishNow(ctx context.Context) error {
	c, b, err := p.Record()
	if err != nil {
		return err
	}
	if p.DHT.RoutingTable().Size() == 0 {
		// Store locally so our own lookups work, then report not-yet.
		_ = p.DHT.PutValue(ctx, CapKey(c.Peer), b, dht.Quorum(0))
		return errors.New("no peers in the routing table yet")
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.DHT.PutValue(pctx, CapKey(c.Peer), b); err != nil {
		return fmt.Errorf("put capability record: %w", err)
	}
	for _, k := range CapabilityKeys(c) {
		p.mu.Lock()
		last, ok := p.provided[k]
		p.mu.Unlock()
		if ok && time.Since(last) < p.Refresh*2 {
			continue
		}
		if err := p.DHT.Provide(pctx, k, true); err != nil {
			return fmt.Errorf("provide capability key %s: %w", k, err)
		}
		p.mu.Lock()
		p.provided[k] = time.Now()
		p.mu.Unlock()
	}
	return nil
}

// NodeQuery filters FindNodes.
type NodeQuery struct {
	Engine string
	Labels map[string]string
	// Timeout bounds the whole lookup; default 10 s.
	Timeout time.Duration
}

// FindNodes lists the nodes whose capability records match q: it asks the
// DHT for the providers of the most selective well-known key, then fetches and
// verifies each provider's record. Records are sorted by peer ID.
func FindNodes(ctx context.Context, d *dht.IpfsDHT, q NodeQuery) ([]*Capabilities, error) {
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := "shoal/node"
	switch {
	case q.Engine != "":
		name = EngineKeyName(q.Engine)
	case len(q.Labels) > 0:
		for k, v := range q.Labels {
			name = LabelKeyName(k, v)
			break
		}
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []*Capabilities
	)
	seen := map[peer.ID]bool{}
	for ai := range d.FindProvidersAsync(ctx, WellKnownKey(name), 0) {
		if seen[ai.ID] {
			continue
		}
		seen[ai.ID] = true
		wg.Add(1)
		go func(p peer.ID) {
			defer wg.Done()
			c, err := GetCapabilities(ctx, d, p)
			if err != nil {
				log.Debug("capability record lookup failed", "peer", p, "err", err)
				return
			}
			if q.Engine != "" && !c.HasEngine(q.Engine) || !c.MatchLabels(q.Labels) {
				return
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}(ai.ID)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out, nil
}

// GetCapabilities fetches and verifies one peer's capability record.
func GetCapabilities(ctx context.Context, d *dht.IpfsDHT, p peer.ID) (*Capabilities, error) {
	b, err := d.GetValue(ctx, CapKey(p))
	if err != nil {
		return nil, fmt.Errorf("capability record of %s: %w", p, err)
	}
	return OpenCapabilities(b)
}
