package runner

import (
	"context"
	"fmt"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
	"github.com/shoalnet/shoal/testground/simhost"
)

// simBackend runs instances as goroutines on one mocknet.
type simBackend struct {
	rs    *runState
	mn    mocknet.Mocknet
	peers []*simhost.Peer

	mu      gosync.Mutex
	cancels []context.CancelFunc
	killed  map[int]bool
	cut     [][2]int // links removed by a partition
}

func (b *simBackend) start(ctx context.Context, rs *runState) (<-chan struct{}, error) {
	b.rs = rs
	b.killed = map[int]bool{}
	b.mn = mocknet.New()
	// Link options apply to links created after this call.
	b.mn.SetLinkDefaults(mocknet.LinkOptions{Latency: rs.cfg.Latency, Bandwidth: rs.cfg.Bandwidth})
	for i := range rs.instances {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		a, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", (i>>16)&255, (i>>8)&255, i&255))
		if err != nil {
			return nil, err
		}
		h, err := b.mn.AddPeer(k, a)
		if err != nil {
			return nil, fmt.Errorf("sim: add peer %d: %w", i, err)
		}
		// Mocknet streams ignore deadlines; the job protocol needs them.
		b.peers = append(b.peers, &simhost.Peer{Host: simhost.WithDeadlines(h), Key: k})
	}
	if err := b.mn.LinkAll(); err != nil {
		return nil, fmt.Errorf("sim: link: %w", err)
	}
	rs.logf("sim: %d hosts on mocknet, all linked (latency %s, bandwidth %s)", len(b.peers), rs.cfg.Latency, bw(rs.cfg.Bandwidth))
	done := make(chan struct{})
	var wg gosync.WaitGroup
	for i, in := range rs.instances {
		env, err := runtime.NewRunEnv(in.Env)
		if err != nil {
			return nil, err
		}
		ictx, cancel := context.WithCancel(simhost.With(ctx, b.peers[i]))
		b.cancels = append(b.cancels, cancel)
		client := tgsync.NewInmemClient(rs.svc, rs.scope)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer env.Close()
			defer cancel()
			_ = run.Execute(ictx, env, client, rs.plan.Cases)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done, nil
}

func bw(b float64) string {
	if b <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f B/s", b)
}

func (b *simBackend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.cancels {
		c()
	}
}

func (b *simBackend) control(ctx context.Context, req netctl.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch req.Op {
	case netctl.OpKill:
		for _, i := range req.Instances {
			if b.killed[i] {
				continue
			}
			b.killed[i] = true
			p := b.peers[i].Host.ID()
			// Cut the node off first, so nothing it does while its
			// instance unwinds reaches anyone, then end the instance.
			for j, o := range b.peers {
				if j != i {
					_ = b.mn.UnlinkPeers(p, o.Host.ID())
				}
			}
			for _, c := range b.peers[i].Host.Network().Conns() {
				_ = c.Close()
			}
			b.cancels[i]()
		}
	case netctl.OpPartition:
		side := map[int]int{}
		for gi, g := range req.Groups {
			for _, i := range g {
				side[i] = gi
			}
		}
		for i := range b.peers {
			for j := i + 1; j < len(b.peers); j++ {
				if side[i] == side[j] || b.killed[i] || b.killed[j] {
					continue
				}
				a, c := b.peers[i].Host.ID(), b.peers[j].Host.ID()
				if err := b.mn.UnlinkPeers(a, c); err == nil {
					b.cut = append(b.cut, [2]int{i, j})
				}
				_ = b.mn.DisconnectPeers(a, c)
			}
		}
	case netctl.OpHeal:
		for _, pr := range b.cut {
			if b.killed[pr[0]] || b.killed[pr[1]] {
				continue
			}
			if _, err := b.mn.LinkPeers(b.peers[pr[0]].Host.ID(), b.peers[pr[1]].Host.ID()); err != nil {
				return fmt.Errorf("relink %d-%d: %w", pr[0], pr[1], err)
			}
		}
		b.cut = nil
	}
	return nil
}

func (b *simBackend) close() error {
	if b.mn == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		_ = b.mn.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("sim: mocknet did not close within 30s")
	}
	return nil
}
