// Package discovery is the discovery plan: every node publishes its
// capability record and provides a content item; looking instances then
// time (1) provider lookups of another node's item, to the first provider,
// counting the DHT peers that answered on the way ("hops"), and (2)
// capability lookups of one zone's nodes (label zone=z), until all of them
// are found or the lookup times out.
package discovery

import (
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/shoalnet/shoal/p2p"
	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// Manifest is the plan's manifest.toml.
//
//go:embed manifest.toml
var Manifest []byte

// TestCases are the plan's cases.
var TestCases = run.TestCases{"default": planutil.Guard(Run)}

type item struct {
	Index int    `json:"index"`
	CID   string `json:"cid"`
}

// Run is the default case.
func Run(env *runtime.RunEnv, ic *run.InitContext) error {
	total := env.TestInstanceCount
	zones := max(env.IntParam("zones"), 1)
	opts := planutil.CommonOptions(env)
	opts.Labels = map[string]string{"zone": strconv.Itoa(env.InstanceIndex % zones)}
	n, err := planutil.Start(env, ic, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx := n.Ctx()
	me := n.Self.Index

	// Wait until this node's capability record is in the DHT.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	select {
	case <-n.CapabilitiesPublished():
	case <-pctx.Done():
		cancel()
		return fmt.Errorf("capability record not published within 2m")
	}
	cancel()
	c, err := n.AddBytes(ctx, []byte(fmt.Sprintf("discovery item of instance %d", me)))
	if err != nil {
		return err
	}
	if err := n.Content.Provide(ctx, c); err != nil {
		return fmt.Errorf("provide: %w", err)
	}
	if _, err := n.Sync.Publish(ctx, "items", item{Index: me, CID: c.String()}); err != nil {
		return err
	}
	items, err := tgsync.Collect[item](ctx, n.Sync, "items", total)
	if err != nil {
		return err
	}
	if err := n.Wait("published"); err != nil {
		return err
	}

	lookers := env.IntParam("lookers")
	if lookers <= 0 || lookers > total {
		lookers = total
	}
	timeout := env.DurationParam("lookup_timeout")
	if me < lookers {
		r := rand.New(rand.NewPCG(uint64(me), 9))
		for k := 0; k < env.IntParam("lookups"); k++ {
			it := items[r.IntN(len(items))]
			for it.Index == me && total > 1 {
				it = items[r.IntN(len(items))]
			}
			target, err := cid.Decode(it.CID)
			if err != nil {
				return err
			}
			d, peers, found := providerLookup(ctx, n, target, timeout)
			env.RecordPoint("provider_found", b2f(found))
			if found {
				env.RecordPoint("provider_lookup_ms", planutil.Ms(d))
				env.RecordPoint("provider_lookup_peers", float64(peers))
			}

			z := r.IntN(zones)
			want := 0
			for i := 0; i < total; i++ {
				if i%zones == z {
					want++
				}
			}
			start := time.Now()
			lctx, cancel := context.WithTimeout(ctx, timeout)
			got, _ := n.FindNodesAtLeast(lctx, p2p.NodeQuery{Labels: map[string]string{"zone": strconv.Itoa(z)}, Timeout: timeout}, want)
			cancel()
			env.RecordPoint("caps_found_fraction", float64(len(got))/float64(max(want, 1)))
			if len(got) >= want {
				env.RecordPoint("caps_lookup_ms", planutil.Ms(time.Since(start)))
			}
		}
	}
	if me == 0 {
		env.RecordPoint("nodes", float64(total))
	}
	return n.Finish()
}

// providerLookup times the search for the first provider of c and counts
// the DHT peers that answered during the lookup (events still buffered
// when the provider arrives are counted too).
func providerLookup(ctx context.Context, n *planutil.Node, c cid.Cid, timeout time.Duration) (time.Duration, int, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ectx, events := routing.RegisterForQueryEvents(ctx)
	start := time.Now()
	found := n.DHT.FindProvidersAsync(ectx, c, 1)
	peers := 0
	count := func(e *routing.QueryEvent) {
		if e != nil && e.Type == routing.PeerResponse {
			peers++
		}
	}
	var took time.Duration
	ok := false
wait:
	for {
		select {
		case e := <-events:
			count(e)
		case p, open := <-found:
			took = time.Since(start)
			ok = open && p.ID != ""
			break wait
		case <-ctx.Done():
			return time.Since(start), peers, false
		}
	}
	drain := time.NewTimer(20 * time.Millisecond)
	defer drain.Stop()
	for {
		select {
		case e := <-events:
			count(e)
		case <-drain.C:
			return took, peers, ok
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
