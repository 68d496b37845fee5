package market

import (
	"context"
	"errors"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/exec"
)

// Content is what the protocol needs of the content layer.
type Content interface {
	// PutBlock stores a raw block locally (job specs, receipts).
	PutBlock(ctx context.Context, b blocks.Block) error
	// GetBlock returns a block, fetching it from the network if needed
	// (hints first), bounded by ctx.
	GetBlock(ctx context.Context, c cid.Cid, hints []peer.AddrInfo) (blocks.Block, error)
	// LocalBytes says how much of the DAG under c is held locally, without
	// fetching; total is 0 when the root is not local.
	LocalBytes(ctx context.Context, c cid.Cid) (held, total int64)
	// Fetch makes the whole DAG local, hints first, then the DHT, storing
	// no more than limit.Max bytes (0: no bound; the bytes received are
	// counted, not the sizes the DAG claims). It returns the DAG's size,
	// every link counted. Content over the bound, or of a shape the
	// content layer refuses to walk (too deep, too many blocks), fails with
	// an error matching ErrContentTooLarge.
	Fetch(ctx context.Context, c cid.Cid, hints []peer.AddrInfo, limit FetchLimit) (int64, error)
	// WriteTo writes the (local) UnixFS DAG c to path.
	WriteTo(ctx context.Context, c cid.Cid, path string) error
	// Module returns the bytes of the UnixFS file c (fetched if needed, at
	// most max) and their sha256. Implementations may cache them: content
	// is immutable.
	Module(ctx context.Context, c cid.Cid, hints []peer.AddrInfo, max int64) ([]byte, [32]byte, error)
	// Publish imports a run's stdout and stderr as UnixFS files and its
	// outputs directory as a UnixFS directory, pins and provides the three
	// roots, and returns them in that order.
	Publish(ctx context.Context, stdout, stderr []byte, outputsDir string) ([3]cid.Cid, error)
	// FindProviders lists up to max providers of c from the DHT, bounded by
	// ctx.
	FindProviders(ctx context.Context, c cid.Cid, max int) []peer.AddrInfo
}

// FetchLimit bounds one Content.Fetch.
type FetchLimit struct {
	// Max is the most bytes the DAG may have; 0: no bound.
	Max int64
	// Name says what the bound is, for the error ("jobs.max_input_bytes").
	Name string
	// Progress, when set, is called as the DAG becomes local, with the
	// bytes of it local so far and its size as its root records it (-1
	// until the root is local or when it records none); calls are
	// serialized.
	Progress func(done, total int64)
}

// ErrContentTooLarge is matched by a Content.Fetch error when the content
// passed its FetchLimit.
var ErrContentTooLarge = errors.New("market: content larger than the limit")

// ErrUnusableContent is matched by a Content.WriteTo error when the
// content itself cannot become the files of a job (a symlink as its root,
// names that would leave their directory): every executor would refuse
// it, so the job fails with bidding.CodeBadInput instead of moving on.
var ErrUnusableContent = errors.New("market: content cannot be materialized")

// Runner runs tasks on the node's engines.
type Runner interface {
	// Engines lists the engines available ("wasm", "docker").
	Engines() []string
	// Run runs t on engine.
	Run(ctx context.Context, engine string, t *exec.Task) (*exec.Result, error)
}
