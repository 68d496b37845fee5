package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// Import defaults. They equal kubo's `ipfs add --cid-version=1`.
const (
	// DefaultCIDVersion is the CID version of imports.
	DefaultCIDVersion = 1
	// DefaultMaxLinks is the number of links per UnixFS file node (kubo's
	// --max-file-links default, boxo's helpers.DefaultLinksPerBlock).
	DefaultMaxLinks = 174
	// HAMTShardingSize is the estimated directory size (link names plus CID
	// bytes) above which a directory becomes a HAMT, as in kubo.
	HAMTShardingSize = 256 << 10
	// HAMTFanout is the width of HAMT directory shards, as in kubo.
	HAMTFanout = 256
)

// Batching of import writes: blocks go to the datastore in batches of at
// most this many bytes or nodes (split over the commits in flight).
const (
	addBatchMaxSize  = 4 << 20
	addBatchMaxNodes = 128
)

// AddOptions are the import settings of Store.Add. The zero value gives the
// defaults: CIDv1, raw leaves, size-262144, 174 links, not pinned.
type AddOptions struct {
	// CIDVersion is 0 or 1 (kubo's --cid-version); nil means 1.
	CIDVersion *int
	// RawLeaves stores file data in raw blocks (kubo's --raw-leaves); nil
	// means kubo's implied default: true for CIDv1, false for CIDv0.
	RawLeaves *bool
	// Chunker is the chunker specification (kubo's --chunker), see
	// ParseChunker; "" means DefaultChunker (size-262144).
	Chunker string
	// MaxLinks is the number of links per file node (kubo's
	// --max-file-links); 0 means DefaultMaxLinks (174).
	MaxLinks int
	// Pin pins the root recursively once the whole import is stored, and
	// provides it to the DHT.
	Pin bool
	// Progress, when set, is called from the importing goroutine with the
	// number of file bytes read so far (over all files of the import).
	Progress func(bytes int64)
}

// importParams are AddOptions resolved and validated.
type importParams struct {
	prefix    cid.Prefix
	rawLeaves bool
	chunker   Chunker
	maxLinks  int
}

// resolve validates o and fills in the defaults.
func (o AddOptions) resolve() (importParams, error) {
	v := DefaultCIDVersion
	if o.CIDVersion != nil {
		v = *o.CIDVersion
	}
	var p importParams
	switch v {
	case 0:
		p.prefix = cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}
	case 1:
		p.prefix = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}
	default:
		return p, fmt.Errorf("content: invalid CID version %d (want 0 or 1)", v)
	}
	p.rawLeaves = v == 1
	if o.RawLeaves != nil {
		p.rawLeaves = *o.RawLeaves
	}
	ch, err := ParseChunker(o.Chunker)
	if err != nil {
		return p, fmt.Errorf("content: %w", err)
	}
	p.chunker = ch
	p.maxLinks = o.MaxLinks
	if p.maxLinks == 0 {
		p.maxLinks = DefaultMaxLinks
	}
	if p.maxLinks < 2 || p.maxLinks > 65536 {
		return p, fmt.Errorf("content: invalid max links %d (want 2 to 65536)", o.MaxLinks)
	}
	return p, nil
}

// Add imports node (a file, a directory tree, a symlink, or a reader wrapped
// with files.NewReaderFile) as UnixFS and returns the root CID, which equals
// kubo's for the same bytes and options (see the package doc). File data is
// streamed through the chunker and written in batches; nothing is held in
// memory whole. The blocks are synced to the datastore before the root is
// pinned (opts.Pin), so an interrupted Add never leaves a pin on a partial
// DAG. Add closes node.
func (s *Store) Add(ctx context.Context, node files.Node, opts AddOptions) (cid.Cid, error) {
	roots, err := s.AddAll(ctx, []files.Node{node}, opts)
	if err != nil {
		return cid.Undef, err
	}
	return roots[0], nil
}

// AddAll imports each node as Add does, each under its own root, with one
// datastore sync and one pin-set flush for all of them: for many small
// imports (a job's stdout, stderr and outputs) those dominate. It returns
// the roots in the order of nodes and closes every node.
func (s *Store) AddAll(ctx context.Context, nodes []files.Node, opts AddOptions) ([]cid.Cid, error) {
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("content: add: nothing to add")
	}
	p, err := opts.resolve()
	if err != nil {
		return nil, err
	}

	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)

	// The batch commits to the bitswap-backed DAG service so that peers
	// already waiting for these blocks are told at once.
	batch := ipld.NewBufferedDAG(ctx, s.dag,
		ipld.MaxSizeBatchOption(addBatchMaxSize),
		ipld.MaxNodesBatchOption(addBatchMaxNodes))
	imp := &importer{dag: batch, p: p, progress: opts.Progress}
	roots := make([]cid.Cid, 0, len(nodes))
	for _, n := range nodes {
		root, err := imp.add(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("content: add: %w", err)
		}
		roots = append(roots, root.Cid())
	}
	if err := batch.Commit(); err != nil {
		return nil, fmt.Errorf("content: add: write blocks: %w", err)
	}
	if err := s.syncBlocks(ctx); err != nil {
		return nil, fmt.Errorf("content: add: sync blocks: %w", err)
	}
	if opts.Pin {
		if err := s.pinAllLocked(ctx, true, roots...); err != nil {
			return nil, fmt.Errorf("content: add: %w", err)
		}
	}
	s.log.Debug("added", "roots", roots, "bytes", imp.read, "pinned", opts.Pin)
	return roots, nil
}

// importer turns a files.Node tree into UnixFS nodes.
type importer struct {
	dag      ipld.DAGService
	p        importParams
	progress func(int64)
	read     int64
}

func (im *importer) add(ctx context.Context, n files.Node) (ipld.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch n := n.(type) {
	case *files.Symlink: // before files.File: a Symlink is also a File
		return im.addSymlink(ctx, n)
	case files.Directory:
		return im.addDir(ctx, n)
	case files.File:
		return im.addFile(n)
	default:
		return nil, fmt.Errorf("unsupported file type %T", n)
	}
}

// addFile chunks f and builds a balanced DAG with every setting explicit.
func (im *importer) addFile(f files.File) (ipld.Node, error) {
	spl, err := im.p.chunker.splitter(&progressReader{r: f, im: im})
	if err != nil {
		return nil, err
	}
	params := helpers.DagBuilderParams{
		Dagserv:    im.dag,
		RawLeaves:  im.p.rawLeaves,
		Maxlinks:   im.p.maxLinks,
		CidBuilder: im.p.prefix,
	}
	db, err := params.New(spl)
	if err != nil {
		return nil, err
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return nil, err
	}
	return nd, nil
}

// addSymlink stores l as a UnixFS symlink node holding its target verbatim.
func (im *importer) addSymlink(ctx context.Context, l *files.Symlink) (ipld.Node, error) {
	data, err := unixfs.SymlinkData(l.Target)
	if err != nil {
		return nil, fmt.Errorf("symlink to %q: %w", l.Target, err)
	}
	nd := merkledag.NodeWithData(data)
	if err := nd.SetCidBuilder(im.p.prefix); err != nil {
		return nil, err
	}
	if err := im.dag.Add(ctx, nd); err != nil {
		return nil, err
	}
	return nd, nil
}

// addDir imports every entry of d and builds the directory node the way
// kubo's `ipfs add -r` does: basic until the HAMT threshold, empty
// directories included.
func (im *importer) addDir(ctx context.Context, d files.Directory) (ipld.Node, error) {
	dir, err := uio.NewDirectory(im.dag,
		uio.WithCidBuilder(im.p.prefix),
		uio.WithMaxLinks(0),
		uio.WithMaxHAMTFanout(HAMTFanout),
		uio.WithSizeEstimationMode(uio.SizeEstimationLinks),
	)
	if err != nil {
		return nil, err
	}
	dir.SetHAMTShardingSize(HAMTShardingSize)

	it := d.Entries()
	for it.Next() {
		name := it.Name()
		child, err := func() (ipld.Node, error) {
			n := it.Node()
			defer n.Close()
			return im.add(ctx, n)
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := dir.AddChild(ctx, name, child); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	nd, err := dir.GetNode()
	if err != nil {
		return nil, err
	}
	if err := im.dag.Add(ctx, nd); err != nil {
		return nil, err
	}
	return nd, nil
}

// progressReader counts the bytes read for AddOptions.Progress.
type progressReader struct {
	r  io.Reader
	im *importer
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.im.read += int64(n)
		if p.im.progress != nil {
			p.im.progress(p.im.read)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read: %w", err)
	}
	return n, err
}
