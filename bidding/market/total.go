package market

import (
	"context"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// inputsTotal is the job's size as the requester knows it: the summed size
// of its inputs, from the requester's own content store (the root of a
// UnixFS DAG carries its size). It is computed once per job run and handed
// to the selector, so that no bid's claim sets the denominator of the
// ranking. An input whose root the requester does not hold makes it
// bidding.UnknownTotal (the ranking then takes the median of the totals
// claimed): fetching the root to size it would make the requester a holder
// of small inputs, and delay the first announcement. A job with a url
// input is UnknownTotal too: the requester cannot size a URL, and the
// executors that imported it claim its size.
func (m *Market) inputsTotal(ctx context.Context, spec *jobspec.Spec) int64 {
	for _, in := range spec.Inputs {
		if in.URL != "" {
			return bidding.UnknownTotal
		}
	}
	var total int64
	for _, c := range spec.InputCIDs() {
		lctx, cancel := context.WithTimeout(ctx, localBytesTimeout)
		_, t := m.cfg.Content.LocalBytes(lctx, c)
		cancel()
		if t <= 0 {
			m.log.Debug("input not held here; ranking by the median total of the bids", "input", c)
			return bidding.UnknownTotal
		}
		total += t
	}
	return total
}
