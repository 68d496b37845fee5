package market

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// earlyCancels remembers, on an executor, Cancels for awards it has not
// seen: a requester that got no Accept (and "unknown_award" to its Query)
// fails over and cancels the award, which may still be on its way or
// waiting for its spec here. The award is refused when it arrives. An
// award is refused as expired past its Expires anyway (at most
// MaxAwardTTL after issue, plus MaxClockSkew), so entries live that long
// and the set is bounded.
type earlyCancels struct {
	mu sync.Mutex
	m  map[bidding.AwardID]earlyCancel
}

type earlyCancel struct {
	requester peer.ID
	at        time.Time
}

// maxEarlyCancels bounds the set; when full, new Cancels are not kept.
const maxEarlyCancels = 4096

// earlyCancelTTL is how long a Cancel of an unseen award is kept.
const earlyCancelTTL = bidding.MaxAwardTTL + bidding.MaxClockSkew

func (c *earlyCancels) add(id bidding.AwardID, requester peer.ID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[bidding.AwardID]earlyCancel{}
	}
	if len(c.m) >= maxEarlyCancels {
		for k, v := range c.m {
			if now.Sub(v.at) > earlyCancelTTL {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxEarlyCancels {
			return
		}
	}
	c.m[id] = earlyCancel{requester: requester, at: now}
}

// has reports whether the award's own requester cancelled it before it
// arrived.
func (c *earlyCancels) has(id bidding.AwardID, requester peer.ID, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return ok && e.requester == requester && now.Sub(e.at) <= earlyCancelTTL
}
