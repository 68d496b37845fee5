package market

import (
	"github.com/shoalnet/shoal/internal/metrics"
)

// observeJobs returns the JobStore observer that records the requester's
// metrics: states entered, outcomes, the time to the first award and the
// locality of each award (nil: none).
func observeJobs(m *metrics.Metrics) func(was, now *Job) {
	if m == nil {
		return nil
	}
	return func(was, now *Job) {
		if was == nil || was.State != now.State {
			m.JobState(string(now.State))
			if now.State.Terminal() {
				m.JobOutcome(string(now.State), string(now.ErrorCode))
			}
		}
		awarded := 0
		if was != nil {
			awarded = len(was.Awards)
		}
		if awarded == 0 && len(now.Awards) > 0 {
			m.Awarded(now.Awards[0].Time.Sub(now.Created))
		}
		for _, a := range now.Awards[min(awarded, len(now.Awards)):] {
			for _, b := range now.Bids {
				if b.Peer == a.Executor {
					m.Placed(b.LocalBytes, b.TotalBytes)
					break
				}
			}
		}
	}
}
