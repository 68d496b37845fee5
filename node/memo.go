package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/trust"
)

// dhtMemo is the market's Memo on the node's DHT: receipt records under
// bidding.ReceiptNamespace (validated on every node by the validator
// receiptValidator registers) and provider records of receipt blocks.
type dhtMemo struct {
	n   *Node
	net []byte
}

var _ market.Memo = (*dhtMemo)(nil)

// receiptValidator is the DHT option that registers the receipt record
// validator for this node's network (its swarm key, or none); the
// records in sealed (this node's own) are not verified again.
func receiptValidator(net []byte, sealed *bidding.SealedRecords) dht.Option {
	return dht.NamespacedValidator(bidding.ReceiptNamespace, bidding.ReceiptRecordValidator{Network: net, Sealed: sealed})
}

func (m *dhtMemo) Network() []byte { return m.net }

// Sealed implements market.SealedMemo: the records the executor seals go
// to the set the DHT's validator trusts without verifying them again.
func (m *dhtMemo) Sealed() *bidding.SealedRecords { return m.n.sealedRecords }

// PutRecord implements market.Memo.
func (m *dhtMemo) PutRecord(ctx context.Context, job cid.Cid, record []byte, receipt cid.Cid) error {
	if err := m.n.DHT.PutValue(ctx, bidding.ReceiptRecordKey(job), record); err != nil {
		return fmt.Errorf("put receipt record of %s: %w", job, err)
	}
	if err := m.n.Content.Provide(ctx, receipt); err != nil {
		return fmt.Errorf("provide receipt %s: %w", receipt, err)
	}
	return nil
}

// GetRecord implements market.Memo: the DHT's search streams ever better
// values (by the validator's Select, which ranks a verified set first);
// the first that enough accepts ends it, else the last, the best, when
// the search is over or ctx expires.
func (m *dhtMemo) GetRecord(ctx context.Context, job cid.Cid, enough func([]byte) bool) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the search when enough ends it early
	ch, err := m.n.DHT.SearchValue(ctx, bidding.ReceiptRecordKey(job))
	if err != nil {
		return nil, fmt.Errorf("get receipt record of %s: %w", job, err)
	}
	var best []byte
	for v := range ch {
		best = v
		if enough == nil || enough(v) {
			return v, nil
		}
	}
	if best == nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("get receipt record of %s: %w", job, err)
		}
		return nil, fmt.Errorf("get receipt record of %s: %w", job, routing.ErrNotFound)
	}
	return best, nil
}

// ReceiptOrgs implements market.ReceiptTrust: the trusted orgs p proved
// with the executor role, from the certificates it presented before and
// from certs (a receipt record's), checked against this node's roots and
// not remembered.
func (g *guard) ReceiptOrgs(p peer.ID, certs [][]byte) []string {
	orgs := g.ExecutorOrgs(p)
	roots, now := g.dir.Roots(), time.Now()
	for _, b := range certs {
		c, err := trust.DecodeCert(b)
		if err != nil || c.Peer != p || roots.Check(c, trust.RoleExecutor, now) != nil {
			continue
		}
		if !contains(orgs, c.Org) {
			orgs = append(orgs, c.Org)
		}
	}
	return orgs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
