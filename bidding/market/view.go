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

// view is the read-only NodeView the pure admission logic sees: a
// snapshot of the executor's occupation, and its configuration.
type view struct {
	ex   *executor
	occ  bidding.Occupancy
	used jobspec.Resources // resources of the runs holding a slot
}

var _ bidding.NodeView = (*view)(nil)

func (ex *executor) view() *view {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	v := &view{ex: ex, occ: ex.occ}
	for _, e := range ex.execs {
		if e.holdsSlot {
			v.used = v.used.Add(e.spec.Resources)
		}
	}
	return v
}

func (v *view) ID() peer.ID                  { return v.ex.self }
func (v *view) Engines() []string            { return v.ex.cfg.Runner.Engines() }
func (v *view) Labels() map[string]string    { return v.ex.cfg.Labels }
func (v *view) Capacity() jobspec.Resources  { return v.ex.cfg.Capacity }
func (v *view) Free() jobspec.Resources      { return v.ex.cfg.Capacity.Sub(v.used) }
func (v *view) QueueDepth() int              { return v.occ.Queued }
func (v *view) QueueLimit() int              { return v.occ.QueueLimit }
func (v *view) MaxInputBytes() int64         { return v.ex.cfg.MaxInputBytes }
func (v *view) FreeSlots() int               { return v.occ.FreeSlots() }
func (v *view) EstimatedWait() time.Duration { return v.occ.EstimatedWait() }

func (v *view) LocalBytes(c cid.Cid) (held, total int64) {
	ctx, cancel := context.WithTimeout(v.ex.ctx, localBytesTimeout)
	defer cancel()
	return v.ex.cfg.Content.LocalBytes(ctx, c)
}

// HeldImport answers from the Remote's memory: no I/O while bidding.
func (v *view) HeldImport(in jobspec.Input) (cid.Cid, int64) {
	if v.ex.cfg.Remote == nil {
		return cid.Undef, 0
	}
	return v.ex.cfg.Remote.HeldImport(in)
}
