package market

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// localBytesTimeout bounds the local walk of one DAG during admission.
const localBytesTimeout = 2 * time.Second

// view is the read-only NodeView the pure admission logic sees.
type view struct {
	m *Market
	// snapshot of the executor's occupation
	running, queued int
	used            jobspec.Resources
	avgRun          time.Duration
}

var _ bidding.NodeView = (*view)(nil)

func (m *Market) view() *view {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := &view{m: m, running: m.running, queued: m.queued, avgRun: m.avgRun}
	for _, e := range m.execs {
		if e.holdsSlot {
			v.used = v.used.Add(e.spec.Resources)
		}
	}
	return v
}

func (v *view) ID() peer.ID                 { return v.m.self }
func (v *view) Engines() []string           { return v.m.cfg.Runner.Engines() }
func (v *view) Labels() map[string]string   { return v.m.cfg.Labels }
func (v *view) Capacity() jobspec.Resources { return v.m.cfg.Capacity }
func (v *view) Free() jobspec.Resources     { return v.m.cfg.Capacity.Sub(v.used) }
func (v *view) QueueDepth() int             { return v.queued }
func (v *view) QueueLimit() int             { return v.m.cfg.QueueLimit }
func (v *view) MaxInputBytes() int64        { return v.m.cfg.MaxInputBytes }
func (v *view) FreeSlots() int {
	if f := v.m.cfg.Slots - v.running - v.queued; f > 0 {
		return f
	}
	return 0
}

func (v *view) EstimatedWait() time.Duration {
	if v.FreeSlots() > 0 {
		return 0
	}
	avg := v.avgRun
	if avg <= 0 {
		avg = time.Second
	}
	return avg * time.Duration(v.queued+1) / time.Duration(v.m.cfg.Slots)
}

func (v *view) LocalBytes(c cid.Cid) (held, total int64) {
	ctx, cancel := context.WithTimeout(v.m.ctx, localBytesTimeout)
	defer cancel()
	return v.m.cfg.Content.LocalBytes(ctx, c)
}
