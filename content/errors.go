package content

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/internal/fsname"
)

var (
	// ErrNotFound means a block or node is not held locally (and, where the
	// method may use the network, could not be fetched either).
	ErrNotFound = errors.New("content: not found")

	// ErrPathExists is returned by [Store.WriteTo] when the destination exists
	// and is not empty, and force was not given.
	ErrPathExists = errors.New("content: path exists")

	// ErrNotPinned is returned by [Store.Unpin] for a CID that has no pin of
	// its own (it may still be held as part of another pinned DAG).
	ErrNotPinned = errors.New("content: not pinned")

	// ErrPinnedRecursively is matched by the error of a direct [Store.Pin]
	// of a CID that is pinned recursively (as kubo, a direct pin does not
	// replace a recursive one: unpin it first). The recursive pin stays.
	ErrPinnedRecursively = errors.New("already pinned recursively")

	// ErrNoRouter is returned by [Store.Provide] when the Store was built
	// without a content router.
	ErrNoRouter = errors.New("content: no content router configured")

	// ErrNotFile is returned by [Store.Cat] for a directory or a symlink.
	ErrNotFile = errors.New("content: not a file")

	// ErrSymlinkRoot is returned by [Store.WriteToWith] with
	// RefuseSymlinkRoot when the DAG's root is a symlink: a job input or an
	// image must be the file or directory itself, never a link that the
	// engine would follow on the executor's host.
	ErrSymlinkRoot = errors.New("content: the root is a symlink")

	// ErrBadName is matched by the [*TreeError] of a directory entry whose
	// name would not stay one entry of its directory: empty, ".", "..", or
	// containing "/" or NUL.
	ErrBadName = fsname.ErrBadName

	// ErrDuplicateName is matched by the [*TreeError] of a directory that
	// lists one name twice (a hand-made DAG can; an imported one cannot).
	ErrDuplicateName = errors.New("content: duplicate directory entry name")

	// ErrClosed is returned by every method after [Store.Close].
	ErrClosed = errors.New("content: store closed")
)

// NoProvidersError is returned when a CID is not local, no connected peer
// sent it and the DHT listed no provider for it within the wait. It matches
// [ErrNoProviders] and [ErrNotFound] with [errors.Is].
type NoProvidersError struct {
	CID  cid.Cid
	Wait time.Duration
}

// ErrNoProviders is the sentinel matched by every [*NoProvidersError]:
// errors.Is(err, ErrNoProviders).
var ErrNoProviders = errors.New("content: no providers found")

func (e *NoProvidersError) Error() string {
	return fmt.Sprintf("no providers found for CID %s within %s", e.CID, e.Wait)
}

// Is makes errors.Is(err, ErrNoProviders) and errors.Is(err, ErrNotFound)
// true for a *NoProvidersError.
func (e *NoProvidersError) Is(target error) bool {
	return target == ErrNoProviders || target == ErrNotFound
}

// ErrTooLarge is matched by every [*TooLargeError]: a fetch passed its byte
// bound, or a peer sent a block larger than [MaxBlockSize].
var ErrTooLarge = errors.New("content: too large")

// ErrTooDeep means a DAG has a link path longer than the walk follows
// (Config.MaxDAGDepth, default [DefaultMaxDAGDepth]), or, when it becomes
// files, directories nested deeper than [MaxTreeDepth] (matched by the
// [*TreeError]). Such DAGs are refused
// rather than walked: no file tree needs that depth, and a walk per level
// is what an attacker would use to exhaust the stack or the clock.
var ErrTooDeep = errors.New("content: DAG too deep")

// ErrTooManyBlocks means a DAG has more distinct blocks than one walk
// visits (Config.MaxDAGBlocks, default [DefaultMaxDAGBlocks]).
var ErrTooManyBlocks = errors.New("content: DAG has too many blocks")

// TooLargeError says which bound a fetch passed and where it stopped. It
// matches [ErrTooLarge] with errors.Is.
type TooLargeError struct {
	// Limit is the bound in bytes: FetchOptions.MaxBytes, or MaxBlockSize
	// when Block is set.
	Limit int64
	// Name says what the bound is in the caller's terms
	// ("jobs.max_input_bytes"); empty when the caller gave none.
	Name string
	// Got is the number of bytes counted when the fetch stopped: bytes
	// received (the block refused included), or with Expanded the size of
	// the whole DAG, every link counted.
	Got int64
	// Block is set when one block was over MaxBlockSize; Got is its size.
	Block bool
	// Expanded is set when the blocks stored fit the bound but the DAG,
	// counting a block once per link to it, does not: written out as files
	// it would be larger than the bound.
	Expanded bool
	// Claimed is set when the root itself records a size over the bound
	// (Got); nothing past the root was fetched.
	Claimed bool
}

func (e *TooLargeError) Error() string {
	if e.Block {
		return fmt.Sprintf("a peer sent a block of %s, more than the %s a block may have: refused", formatBytes(e.Got), formatBytes(e.Limit))
	}
	bound := formatBytes(e.Limit)
	if e.Name != "" {
		bound += " (" + e.Name + ")"
	}
	if e.Claimed {
		return fmt.Sprintf("more than %s: the root records %d bytes", bound, e.Got)
	}
	if e.Expanded {
		return fmt.Sprintf("more than %s: the DAG counts %d bytes with every link (blocks linked more than once count each time)", bound, e.Got)
	}
	return fmt.Sprintf("more than %s: stopped after %d bytes", bound, e.Got)
}

// Is makes errors.Is(err, ErrTooLarge) true for a *TooLargeError.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// formatBytes writes n with a binary unit when it is at least 1 KiB
// ("1 GiB", "1.5 MiB", "512 B").
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/(1<<10), 0
	for v >= 1<<10 && i < len(units)-1 {
		v /= 1 << 10
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i:i+1] + "iB"
}
