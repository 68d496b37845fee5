package market

import (
	"context"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// sizeRootTimeout bounds fetching the root block of an input the
// requester does not hold, to learn its size.
const sizeRootTimeout = 2 * time.Second

// inputsTotal is the job's size as the requester knows it: the summed size
// of its inputs, from the requester's own content store (the root of a
// UnixFS DAG carries its size; a root not held is fetched, bounded by
// sizeRootTimeout). It is computed once per job run and handed to the
// selector, so that no bid's claim sets the denominator of the ranking.
// An input the requester cannot size makes it bidding.UnknownTotal.
func (m *Market) inputsTotal(ctx context.Context, spec *jobspec.Spec) int64 {
	var total int64
	for _, c := range spec.InputCIDs() {
		lctx, cancel := context.WithTimeout(ctx, localBytesTimeout)
		_, t := m.cfg.Content.LocalBytes(lctx, c)
		cancel()
		if t <= 0 {
			gctx, cancel := context.WithTimeout(ctx, sizeRootTimeout)
			_, err := m.cfg.Content.GetBlock(gctx, c, nil)
			cancel()
			if err == nil {
				lctx, cancel := context.WithTimeout(ctx, localBytesTimeout)
				_, t = m.cfg.Content.LocalBytes(lctx, c)
				cancel()
			}
		}
		if t <= 0 {
			m.log.Debug("cannot size input; ranking by the largest total bid", "input", c)
			return bidding.UnknownTotal
		}
		total += t
	}
	return total
}
