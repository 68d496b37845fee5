package content

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"
)

// LargeBlockMin is the size from which a block is kept as a file of its own
// when the Store has a Config.BlockDir (smaller blocks stay in the
// datastore). UnixFS imports cut files into 256 KiB blocks, so this is
// nearly every byte of data.
const LargeBlockMin = 16 << 10

// fileBlockTmp is the directory under the block directory that holds files
// being written; what is left there at start was never renamed into place
// (a crash mid-write) and is removed.
const fileBlockTmp = "tmp"

// fileKeyEncoding names block files: base32 of the multihash, as flatfs.
var fileKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// fileBlocks keeps blocks of LargeBlockMin bytes and more as files under dir
// (one directory per last byte of the multihash, the file named by the
// multihash in base32) and every other block in next. Measured on
// BenchmarkFetch256MiB: in pebble, each byte of a large block was written
// twice (WAL, then the blob file of a memtable flush) and every flush
// synced, which bounded a fetch at 110-160 MiB/s; as files each byte is
// written once, into the page cache, and the disk writes it while the fetch
// goes on.
//
// Durability is that of the datastore: a written block reaches the kernel
// before Put returns (so it survives kill -9 of the daemon; a file appears
// under its name only once complete, by rename), and it survives a power
// loss once sync ran: the Store syncs after every import, fetch and GC,
// before it pins or reports success. Each file's write-back to disk starts
// as soon as it is written (sync_file_range), so that sync mostly finds it
// done (it took 4 ms at the end of a 256 MiB fetch). The first read of a
// file in a process checks its bytes against the CID's hash, so a file
// damaged on disk (or torn by a power loss before that sync) is never
// served: it is removed and reads as missing.
//
// Blocks written into next before the Store had a BlockDir stay there and
// are read from there; a large block already in next is not written again.
type fileBlocks struct {
	blockstore.Blockstore // next: small blocks and those stored before

	dir   string
	log   *slog.Logger
	dirty atomic.Bool // files written since the last sync

	// known holds the multihashes of files this process wrote or checked:
	// their bytes are not hashed again on read (a served block was hashed
	// on every request: 5% of a fetch's CPU when both ends run on one
	// machine). Bounded by maxKnownFiles, then forgotten at once.
	knownMu sync.Mutex
	known   map[string]struct{}
}

// maxKnownFiles bounds fileBlocks.known (about 100 bytes an entry).
const maxKnownFiles = 64 << 10

var _ blockstore.Blockstore = (*fileBlocks)(nil)

// newFileBlocks opens the block directory dir (creating it and its 256
// shard directories) and removes what a crash left half written.
func newFileBlocks(next blockstore.Blockstore, dir string, log *slog.Logger) (*fileBlocks, error) {
	tmp := filepath.Join(dir, fileBlockTmp)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("content: clear %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("content: block directory: %w", err)
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("content: block directory: %w", err)
		}
	}
	return &fileBlocks{Blockstore: next, dir: dir, log: log, known: map[string]struct{}{}}, nil
}

// path is the file of the block with multihash h.
func (f *fileBlocks) path(h mh.Multihash) string {
	return filepath.Join(f.dir, fmt.Sprintf("%02x", h[len(h)-1]), fileKeyEncoding.EncodeToString(h))
}

func (f *fileBlocks) Put(ctx context.Context, b blocks.Block) error {
	if len(b.RawData()) < LargeBlockMin {
		return f.Blockstore.Put(ctx, b)
	}
	return f.putFile(ctx, b)
}

func (f *fileBlocks) PutMany(ctx context.Context, bs []blocks.Block) error {
	small := bs[:0:0]
	for _, b := range bs {
		if len(b.RawData()) < LargeBlockMin {
			small = append(small, b)
			continue
		}
		if err := f.putFile(ctx, b); err != nil {
			return err
		}
	}
	if len(small) == 0 {
		return nil
	}
	return f.Blockstore.PutMany(ctx, small)
}

// putFile writes b as a file, unless it is there (or in next) already.
func (f *fileBlocks) putFile(ctx context.Context, b blocks.Block) error {
	p := f.path(b.Cid().Hash())
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if ok, err := f.Blockstore.Has(ctx, b.Cid()); err == nil && ok {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, fileBlockTmp), "put-")
	if err != nil {
		return fmt.Errorf("content: write block: %w", err)
	}
	_, err = tmp.Write(b.RawData())
	if err == nil {
		// Start the disk write now; the Store's sync waits for it.
		_ = unix.SyncFileRange(int(tmp.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
		if errors.Is(err, fs.ErrNotExist) { // its shard directory was removed
			if err = os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
				err = os.Rename(tmp.Name(), p)
			}
		}
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("content: write block %s: %w", b.Cid(), err)
	}
	f.dirty.Store(true)
	f.setKnown(b.Cid().Hash(), true)
	return nil
}

// setKnown records (or forgets) that h's file holds the right bytes.
func (f *fileBlocks) setKnown(h mh.Multihash, ok bool) {
	f.knownMu.Lock()
	defer f.knownMu.Unlock()
	if !ok {
		delete(f.known, string(h))
		return
	}
	if len(f.known) >= maxKnownFiles {
		clear(f.known)
	}
	f.known[string(h)] = struct{}{}
}

func (f *fileBlocks) isKnown(h mh.Multihash) bool {
	f.knownMu.Lock()
	defer f.knownMu.Unlock()
	_, ok := f.known[string(h)]
	return ok
}

// readFile returns the bytes of c's file, or ok false when there is none.
// A file whose bytes do not hash to c is removed and reads as missing.
func (f *fileBlocks) readFile(c cid.Cid) (data []byte, ok bool, err error) {
	p := f.path(c.Hash())
	data, err = os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("content: read block %s: %w", c, err)
	}
	if f.isKnown(c.Hash()) {
		return data, true, nil
	}
	sum, err := c.Prefix().Sum(data)
	if err != nil || !bytes.Equal(sum.Hash(), c.Hash()) {
		f.log.Warn("removed a damaged block file", "cid", c, "file", p, "bytes", len(data))
		_ = os.Remove(p)
		return nil, false, nil
	}
	f.setKnown(c.Hash(), true)
	return data, true, nil
}

func (f *fileBlocks) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	data, ok, err := f.readFile(c)
	if err != nil {
		return nil, err
	}
	if ok {
		return blocks.NewBlockWithCid(data, c)
	}
	return f.Blockstore.Get(ctx, c)
}

func (f *fileBlocks) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if _, err := os.Stat(f.path(c.Hash())); err == nil {
		return true, nil
	}
	return f.Blockstore.Has(ctx, c)
}

func (f *fileBlocks) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if st, err := os.Stat(f.path(c.Hash())); err == nil {
		return int(st.Size()), nil
	}
	return f.Blockstore.GetSize(ctx, c)
}

func (f *fileBlocks) DeleteBlock(ctx context.Context, c cid.Cid) error {
	err := os.Remove(f.path(c.Hash()))
	f.setKnown(c.Hash(), false)
	if err == nil {
		f.dirty.Store(true)
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("content: delete block %s: %w", c, err)
	}
	return f.Blockstore.DeleteBlock(ctx, c)
}

func (f *fileBlocks) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	ch, _, err := f.AllKeysChanWithErr(ctx) // errors: AllKeysChanWithErr
	return ch, err
}

// AllKeysChanWithErr lists next's blocks, then the files, as raw CIDs (as
// boxo's blockstore does); the function returns what ended the listing
// early, once the channel is closed.
func (f *fileBlocks) AllKeysChanWithErr(ctx context.Context) (<-chan cid.Cid, func() error, error) {
	var (
		inner   <-chan cid.Cid
		innerFn = func() error { return nil }
		err     error
	)
	if e, ok := f.Blockstore.(blockstore.AllKeysChanWithErrer); ok {
		inner, innerFn, err = e.AllKeysChanWithErr(ctx)
	} else {
		inner, err = f.Blockstore.AllKeysChan(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	out := make(chan cid.Cid, 64)
	var walkErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for c := range inner {
			select {
			case out <- c:
			case <-ctx.Done():
				walkErr = ctx.Err()
				return
			}
		}
		walkErr = filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == fileBlockTmp {
					return filepath.SkipDir
				}
				return nil
			}
			h, err := fileKeyEncoding.DecodeString(d.Name())
			if err != nil || strings.Contains(d.Name(), ".") {
				return nil // not a block file
			}
			if _, err := mh.Cast(h); err != nil {
				return nil
			}
			select {
			case out <- cid.NewCidV1(cid.Raw, h):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return out, func() error {
		<-done
		return errors.Join(innerFn(), walkErr)
	}, nil
}

// sync makes every block file written or removed since the last sync
// durable (syncfs of the block directory's file system: one call, whatever
// the number of files).
func (f *fileBlocks) sync() error {
	if !f.dirty.Swap(false) {
		return nil
	}
	d, err := os.Open(f.dir)
	if err == nil {
		err = unix.Syncfs(int(d.Fd()))
		_ = d.Close()
	}
	if err != nil {
		f.dirty.Store(true)
		return fmt.Errorf("content: sync block files: %w", err)
	}
	return nil
}
