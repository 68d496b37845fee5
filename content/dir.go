package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// Link is one entry of a directory built by MakeDir: a name and the CID of
// the DAG it names.
type Link struct {
	Name string
	CID  cid.Cid
}

// ErrLinkExists reports a name already in a directory, ErrNoLink one that
// is not.
// ErrNotADirectory one that is not a UnixFS directory.
var (
	ErrLinkExists    = errors.New("content: directory entry exists")
	ErrNoLink        = errors.New("content: no such directory entry")
	ErrNotADirectory = errors.New("content: not a UnixFS directory")
)

// Root blocks of directory entries are fetched rootBatch to a bitswap
// session, rootSessions sessions at a time.
const (
	rootBatch    = 64
	rootSessions = 16
)

// MaxDirLinks bounds the entries of a directory built by MakeDir or grown
// by AddLink.
const MaxDirLinks = 1 << 20

// MakeDir stores a UnixFS directory whose entries are links to the given
// DAGs and returns its CID, which equals kubo's for the same entries (what
// `ipfs add -r` of the same files gives, and MFS with `ipfs files cp`): a
// basic directory until [HAMTShardingSize], a HAMT past it, CIDv1.
//
// The entries are not fetched: only each entry's root block is read, for
// its cumulative size (a link's Tsize), from the blockstore or over
// bitswap when missing. So a dataset spread over many nodes becomes one
// CID without copying it. Names must pass [CheckName] and appear once. The
// directory's own blocks are pinned directly (its entries are not: they
// stay wherever they are) and the root is provided.
func (s *Store) MakeDir(ctx context.Context, links []Link) (cid.Cid, error) {
	if err := s.check(); err != nil {
		return cid.Undef, err
	}
	if len(links) > MaxDirLinks {
		return cid.Undef, fmt.Errorf("content: make dir: %d entries, more than %d", len(links), MaxDirLinks)
	}
	seen := make(map[string]bool, len(links))
	for _, l := range links {
		if err := CheckName(l.Name); err != nil {
			return cid.Undef, fmt.Errorf("content: make dir: %w", err)
		}
		if seen[l.Name] {
			return cid.Undef, fmt.Errorf("content: make dir: %w: %q given twice", ErrDuplicateName, l.Name)
		}
		seen[l.Name] = true
	}
	roots, err := s.rootNodes(ctx, links)
	if err != nil {
		return cid.Undef, fmt.Errorf("content: make dir: %w", err)
	}
	return s.editDir(ctx, cid.Undef, func(ctx context.Context, d uio.Directory) error {
		for _, l := range links {
			if err := d.AddChild(ctx, l.Name, roots[l.CID]); err != nil {
				return fmt.Errorf("%s: %w", l.Name, err)
			}
		}
		return nil
	})
}

// rootNodes returns a link target (CID and cumulative size) for each
// link's CID, from its root block: local ones read from the blockstore,
// the others fetched together in one bitswap session (one at a time, a
// dataset of thousands of entries would take thousands of round trips)
// into memory and dropped once measured: the directory needs only their
// sizes, and they stay wherever they are.
func (s *Store) rootNodes(ctx context.Context, links []Link) (map[cid.Cid]ipld.Node, error) {
	out := make(map[cid.Cid]ipld.Node, len(links))
	var missing []cid.Cid
	want := map[cid.Cid]string{}
	for _, l := range links {
		if !l.CID.Defined() {
			return nil, fmt.Errorf("%q: no CID", l.Name)
		}
		if _, ok := want[l.CID]; ok {
			continue
		}
		want[l.CID] = l.Name
		blk, err := s.bs.Get(ctx, l.CID)
		if err != nil {
			missing = append(missing, l.CID)
			continue
		}
		t, err := s.target(ctx, blk)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", l.Name, l.CID, err)
		}
		out[l.CID] = t
	}
	if len(missing) > 0 {
		mem := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()))
		bsvc := blockservice.New(&fetchStore{Blockstore: mem, fail: func(error) {}}, s.bswap) // never closed: it would close s.bswap
		// A bitswap session keeps at most 64 wants live and fetched 4000
		// small roots in 70 s (a round of wants a second, on 2 loaded
		// cores); a session per slice of rootBatch keys, rootSessions at
		// once, took 0.24 s.
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		sem := make(chan struct{}, rootSessions)
		for i := 0; i < len(missing); i += rootBatch {
			batch := missing[i:min(i+rootBatch, len(missing))]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				for blk := range blockservice.NewSession(ctx, bsvc).GetBlocks(ctx, batch) {
					t, err := s.target(ctx, blk)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("%s (%s): %w", want[blk.Cid()], blk.Cid(), err)
					} else if err == nil {
						out[blk.Cid()] = t
					}
					mu.Unlock()
					_ = mem.DeleteBlock(ctx, blk.Cid())
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		for _, c := range missing {
			if _, ok := out[c]; !ok {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("%s (%s): root block: %w", want[c], c, err)
				}
				return nil, fmt.Errorf("%s (%s): root block: %w", want[c], c, ErrNotFound)
			}
		}
	}
	return out, nil
}

// target measures a root block: the Tsize a directory link to it carries.
func (s *Store) target(ctx context.Context, blk blocks.Block) (ipld.Node, error) {
	nd, err := s.decode(ctx, blk)
	if err != nil {
		return nil, fmt.Errorf("decode root: %w", err)
	}
	size, err := nd.Size()
	if err != nil {
		return nil, fmt.Errorf("size of root: %w", err)
	}
	return &linkTarget{c: blk.Cid(), size: size}, nil
}

// AddLink returns the CID of directory dir with the entry name → c added,
// like kubo's `ipfs object patch add-link`; a name already there is
// refused with ErrLinkExists unless replace. Neither c nor the other
// entries are fetched, only dir's own blocks and c's root.
func (s *Store) AddLink(ctx context.Context, dir cid.Cid, name string, c cid.Cid, replace bool) (cid.Cid, error) {
	if err := s.check(); err != nil {
		return cid.Undef, err
	}
	if err := CheckName(name); err != nil {
		return cid.Undef, fmt.Errorf("content: add link: %w", err)
	}
	return s.editDir(ctx, dir, func(ctx context.Context, d uio.Directory) error {
		if _, err := d.Find(ctx, name); err == nil {
			if !replace {
				return fmt.Errorf("%w: %q in %s", ErrLinkExists, name, dir)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return s.addChild(ctx, d, Link{Name: name, CID: c})
	})
}

// RmLink returns the CID of directory dir without the entry name, like
// kubo's `ipfs object patch rm-link`; ErrNoLink when it has none.
func (s *Store) RmLink(ctx context.Context, dir cid.Cid, name string) (cid.Cid, error) {
	if err := s.check(); err != nil {
		return cid.Undef, err
	}
	return s.editDir(ctx, dir, func(ctx context.Context, d uio.Directory) error {
		if err := d.RemoveChild(ctx, name); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w: %q in %s", ErrNoLink, name, dir)
			}
			return err
		}
		return nil
	})
}

// addChild links l's root into d; the root block is read for its size.
func (s *Store) addChild(ctx context.Context, d uio.Directory, l Link) error {
	roots, err := s.rootNodes(ctx, []Link{l})
	if err != nil {
		return err
	}
	if err := d.AddChild(ctx, l.Name, roots[l.CID]); err != nil {
		return fmt.Errorf("%s: %w", l.Name, err)
	}
	return nil
}

// linkTarget stands for an entry's root in a directory being built: a
// link needs only its CID and cumulative size (ipld.MakeLink), so the
// root's bytes (a whole file, for a one-block file) are not kept. A HAMT
// "adds" its entries to the DAG service; recordingDAG drops those, so a
// linkTarget is never stored.
type linkTarget struct {
	c    cid.Cid
	size uint64
}

var _ ipld.Node = (*linkTarget)(nil)

func (t *linkTarget) RawData() []byte           { return nil }
func (t *linkTarget) Cid() cid.Cid              { return t.c }
func (t *linkTarget) String() string            { return t.c.String() }
func (t *linkTarget) Loggable() map[string]any  { return map[string]any{"cid": t.c} }
func (t *linkTarget) Tree(string, int) []string { return nil }
func (t *linkTarget) Copy() ipld.Node           { c := *t; return &c }
func (t *linkTarget) Links() []*ipld.Link       { return nil }
func (t *linkTarget) Size() (uint64, error)     { return t.size, nil }
func (t *linkTarget) Stat() (*ipld.NodeStat, error) {
	return &ipld.NodeStat{CumulativeSize: int(t.size)}, nil
}
func (t *linkTarget) Resolve([]string) (any, []string, error) { return nil, nil, errLinkTarget }
func (t *linkTarget) ResolveLink([]string) (*ipld.Link, []string, error) {
	return nil, nil, errLinkTarget
}

var errLinkTarget = errors.New("content: a directory entry's root is not loaded")

// editDir opens directory dir (a new empty one when undefined) with the
// import settings of addDir, applies edit, stores the result and pins its
// own new blocks directly.
func (s *Store) editDir(ctx context.Context, dir cid.Cid, edit func(context.Context, uio.Directory) error) (cid.Cid, error) {
	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)

	rec := &recordingDAG{DAGService: s.dag}
	var d uio.Directory
	if dir.Defined() {
		blk, err := s.getBlock(ctx, dir, nil, nil)
		if err != nil {
			return cid.Undef, fmt.Errorf("content: edit dir %s: %w", dir, err)
		}
		nd, err := s.decode(ctx, blk)
		if err != nil {
			return cid.Undef, fmt.Errorf("content: edit dir %s: decode: %w", dir, err)
		}
		d, err = uio.NewDirectoryFromNode(rec, nd)
		if errors.Is(err, uio.ErrNotADir) {
			return cid.Undef, fmt.Errorf("content: edit dir %s: %w", dir, ErrNotADirectory)
		}
		if err != nil {
			return cid.Undef, fmt.Errorf("content: edit dir %s: %w", dir, err)
		}
		// The settings of addDir, keeping the CID format of the directory
		// being edited.
		d.SetCidBuilder(dir.Prefix())
		d.SetMaxLinks(0)
		d.SetMaxHAMTFanout(HAMTFanout)
		d.SetSizeEstimationMode(uio.SizeEstimationLinks)
	} else {
		var err error
		d, err = uio.NewDirectory(rec,
			uio.WithCidBuilder(cid.Prefix{Version: DefaultCIDVersion, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}),
			uio.WithMaxLinks(0),
			uio.WithMaxHAMTFanout(HAMTFanout),
			uio.WithSizeEstimationMode(uio.SizeEstimationLinks))
		if err != nil {
			return cid.Undef, fmt.Errorf("content: make dir: %w", err)
		}
	}
	d.SetHAMTShardingSize(HAMTShardingSize)
	if err := edit(ctx, d); err != nil {
		return cid.Undef, fmt.Errorf("content: dir: %w", err)
	}
	nd, err := d.GetNode()
	if err != nil {
		return cid.Undef, fmt.Errorf("content: dir: %w", err)
	}
	if err := rec.Add(ctx, nd); err != nil {
		return cid.Undef, fmt.Errorf("content: dir: store: %w", err)
	}
	if err := s.syncBlocks(ctx); err != nil {
		return cid.Undef, fmt.Errorf("content: dir: sync blocks: %w", err)
	}
	// The root last, so that it is provided once the shards are pinned.
	own := rec.added()
	slices.SortFunc(own, func(a, b cid.Cid) int {
		if a.Equals(nd.Cid()) {
			return 1
		}
		if b.Equals(nd.Cid()) {
			return -1
		}
		return 0
	})
	if err := s.pinAllLocked(ctx, false, own...); err != nil {
		return cid.Undef, fmt.Errorf("content: dir: %w", err)
	}
	return nd.Cid(), nil
}

// recordingDAG is a DAG service that remembers the nodes added through it:
// the directory's own blocks, the ones to pin.
type recordingDAG struct {
	ipld.DAGService
	mu   sync.Mutex
	cids []cid.Cid
	seen map[cid.Cid]bool
}

func (r *recordingDAG) note(cs ...cid.Cid) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[cid.Cid]bool{}
	}
	for _, c := range cs {
		if !r.seen[c] {
			r.seen[c] = true
			r.cids = append(r.cids, c)
		}
	}
}

func (r *recordingDAG) Add(ctx context.Context, nd ipld.Node) error {
	if _, ok := nd.(*linkTarget); ok {
		return nil // an entry's root: not the directory's, and not loaded
	}
	if err := r.DAGService.Add(ctx, nd); err != nil {
		return err
	}
	r.note(nd.Cid())
	return nil
}

func (r *recordingDAG) AddMany(ctx context.Context, nds []ipld.Node) error {
	for _, nd := range nds {
		if err := r.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

// added returns the CIDs added, in order.
func (r *recordingDAG) added() []cid.Cid {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cids)
}
