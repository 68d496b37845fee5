package content

import (
	"errors"
	"fmt"
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

	// ErrTooDeep is matched by the [*TreeError] of a tree nested deeper
	// than [MaxTreeDepth].
	ErrTooDeep = errors.New("content: directory tree too deep")

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
