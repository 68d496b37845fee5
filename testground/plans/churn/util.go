package churn

import (
	"context"
	"time"

	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
)

func contextWithTimeout(n *planutil.Node, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.Ctx(), d)
}
