package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	unixfile "github.com/ipfs/boxo/ipld/unixfs/file"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	legacy "github.com/ipfs/go-ipld-legacy"
)

// NodeType is the kind of a UnixFS node.
type NodeType string

// Node types reported by Ls and Stat.
const (
	TypeFile      NodeType = "file"
	TypeDirectory NodeType = "directory"
	TypeSymlink   NodeType = "symlink"
	// TypeOther is any non-UnixFS block, for example a dag-cbor job spec.
	TypeOther NodeType = "other"
)

// Reader reads a UnixFS file. Close releases the fetches in flight.
type Reader interface {
	io.ReadSeekCloser
	io.WriterTo
	// Size is the file's length in bytes.
	Size() int64
}

// Cat opens the UnixFS file c for reading. Blocks that are not local are
// fetched on demand while reading (the root with the bounded provider wait
// of Fetch), so ctx must stay live while the Reader is in use. A directory
// or symlink gives ErrNotFile.
func (s *Store) Cat(ctx context.Context, c cid.Cid) (Reader, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ng, nd, err := s.openRoot(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("content: cat %s: %w", c, err)
	}
	dr, err := uio.NewDagReader(ctx, nd, ng)
	if err != nil {
		if errors.Is(err, uio.ErrIsDir) || errors.Is(err, uio.ErrCantReadSymlinks) {
			return nil, fmt.Errorf("content: cat %s: %w: %w", c, ErrNotFile, err)
		}
		return nil, fmt.Errorf("content: cat %s: %w", c, err)
	}
	return dagReader{dr}, nil
}

type dagReader struct{ uio.DagReader }

func (r dagReader) Size() int64 { return int64(r.DagReader.Size()) }

// Get returns c as a files.Node (a files.File, files.Directory or
// *files.Symlink) for writing it out, fetching missing blocks on demand like
// Cat. ctx must stay live while the node is read, and cancelling it stops
// the goroutines of directory iterators not read to the end.
//
// Directories enforce the rules of a tree that becomes files: an iterator
// stops, its Err a [*TreeError], at an entry name that [CheckName] refuses,
// at a name repeated in one directory, or below [MaxTreeDepth]. Symlinks
// are returned with their targets as stored (any string).
func (s *Store) Get(ctx context.Context, c cid.Cid) (files.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ng, nd, err := s.openRoot(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("content: get %s: %w", c, err)
	}
	fn, err := unixfile.NewUnixfsFile(ctx, merkledag.NewReadOnlyDagService(ng), nd)
	if err != nil {
		return nil, fmt.Errorf("content: get %s: %w", c, err)
	}
	return checkTree(fn), nil
}

// LocalType returns the type of c's root when its root block is held
// here, reading that one block; ok is false when it is not held (nothing
// is fetched).
func (s *Store) LocalType(ctx context.Context, c cid.Cid) (typ NodeType, ok bool, err error) {
	if !s.Has(ctx, c) {
		return "", false, nil
	}
	blk, err := s.bs.Get(ctx, c)
	if err != nil {
		return "", false, fmt.Errorf("content: type of %s: %w", c, err)
	}
	nd, err := s.decode(ctx, blk)
	if err != nil {
		return "", false, fmt.Errorf("content: type of %s: decode root: %w", c, err)
	}
	typ, _ = nodeInfo(nd)
	return typ, true, nil
}

// openRoot returns a session-backed node getter and the decoded root c.
func (s *Store) openRoot(ctx context.Context, c cid.Cid) (ipld.NodeGetter, ipld.Node, error) {
	ses := blockservice.NewSession(ctx, s.bserv)
	blk, err := s.getBlock(ctx, c, nil, ses)
	if err != nil {
		return nil, nil, err
	}
	nd, err := s.decode(ctx, blk)
	if err != nil {
		return nil, nil, fmt.Errorf("decode root: %w", err)
	}
	return merkledag.WrapSession(ses), nd, nil
}

// decode turns a block into an IPLD node: dag-pb and raw natively, other
// codecs (dag-cbor) through go-ipld-prime's codec registry.
func (s *Store) decode(ctx context.Context, b blocks.Block) (ipld.Node, error) {
	switch b.Cid().Prefix().Codec {
	case cid.DagProtobuf:
		return merkledag.DecodeProtobufBlock(b)
	case cid.Raw:
		return merkledag.DecodeRawBlock(b)
	default:
		return legacy.NewDecoder().DecodeNode(ctx, b)
	}
}

// Entry is one directory entry listed by Ls.
type Entry struct {
	Name string
	CID  cid.Cid
	// Size is the file size for files, the target length for symlinks and
	// 0 for directories.
	Size int64
	Type NodeType
}

// Ls lists the directory c (basic or HAMT-sharded), fetching the entries'
// root blocks when they are not local to report their types and sizes. For a
// file, symlink or non-UnixFS block it returns a single entry named by its
// CID.
func (s *Store) Ls(ctx context.Context, c cid.Cid) ([]Entry, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ng, nd, err := s.openRoot(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("content: ls %s: %w", c, err)
	}
	typ, size := nodeInfo(nd)
	if typ != TypeDirectory {
		return []Entry{{Name: c.String(), CID: c, Size: size, Type: typ}}, nil
	}
	dir, err := uio.NewDirectoryFromNode(merkledag.NewReadOnlyDagService(ng), nd)
	if err != nil {
		return nil, fmt.Errorf("content: ls %s: %w", c, err)
	}
	links, err := dir.Links(ctx)
	if err != nil {
		return nil, fmt.Errorf("content: ls %s: %w", c, err)
	}
	keys := make([]cid.Cid, len(links))
	for i, l := range links {
		keys[i] = l.Cid
	}
	info := make(map[cid.Cid]Entry, len(links))
	for opt := range ng.GetMany(ctx, keys) {
		if opt.Err != nil {
			return nil, fmt.Errorf("content: ls %s: %w", c, opt.Err)
		}
		t, sz := nodeInfo(opt.Node)
		info[opt.Node.Cid()] = Entry{Size: sz, Type: t}
	}
	out := make([]Entry, 0, len(links))
	for _, l := range links {
		e, ok := info[l.Cid]
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("content: ls %s: %w", c, err)
			}
			return nil, fmt.Errorf("content: ls %s: entry %q (%s): %w", c, l.Name, l.Cid, ErrNotFound)
		}
		e.Name, e.CID = l.Name, l.Cid
		out = append(out, e)
	}
	return out, nil
}

// nodeInfo returns the UnixFS type and content size of nd.
func nodeInfo(nd ipld.Node) (NodeType, int64) {
	switch nd := nd.(type) {
	case *merkledag.RawNode:
		return TypeFile, int64(len(nd.RawData()))
	case *merkledag.ProtoNode:
		fsn, err := unixfs.FSNodeFromBytes(nd.Data())
		if err != nil {
			return TypeOther, 0
		}
		switch fsn.Type() {
		case unixfs.TFile, unixfs.TRaw:
			return TypeFile, int64(fsn.FileSize())
		case unixfs.TDirectory, unixfs.THAMTShard:
			return TypeDirectory, 0
		case unixfs.TSymlink:
			return TypeSymlink, int64(len(fsn.Data()))
		default:
			return TypeOther, 0
		}
	default:
		return TypeOther, int64(len(nd.RawData()))
	}
}

// Stat describes a DAG.
type Stat struct {
	CID  cid.Cid
	Type NodeType
	// Size is the content size: file bytes for a file, the target length
	// for a symlink, 0 for a directory, the block size for other blocks.
	Size int64
	// CumulativeSize is the size of all the DAG's blocks as recorded in the
	// root, or -1 when the root records none (then, if Local, it is the
	// size measured).
	CumulativeSize int64
	// Blocks is the number of distinct blocks of the DAG held locally.
	Blocks int64
	// LocalBytes is the size of the DAG's blocks held locally (as
	// LocalBytes returns it).
	LocalBytes int64
	// Local is true when the whole DAG is in the blockstore.
	Local bool
}

// Stat describes the DAG c from the blockstore. Only a missing root is
// fetched (with the bounded provider wait of Fetch); the rest of the DAG is
// never fetched, and Local says whether all of it is here.
func (s *Store) Stat(ctx context.Context, c cid.Cid) (Stat, error) {
	if err := s.check(); err != nil {
		return Stat{}, err
	}
	_, nd, err := s.openRoot(ctx, c)
	if err != nil {
		return Stat{}, fmt.Errorf("content: stat %s: %w", c, err)
	}
	w, err := s.walkLocal(ctx, c)
	if err != nil {
		return Stat{}, fmt.Errorf("content: stat %s: %w", c, err)
	}
	typ, size := nodeInfo(nd)
	st := Stat{
		CID:            c,
		Type:           typ,
		Size:           size,
		CumulativeSize: cumulativeSize(nd),
		Blocks:         w.blocks,
		LocalBytes:     w.held,
		Local:          w.missing == 0,
	}
	if st.CumulativeSize < 0 && st.Local {
		st.CumulativeSize = w.held
	}
	return st, nil
}
