// Package contenttest builds UnixFS DAGs by hand for tests, including the
// ones an importer never makes: entry names with "/", "..", NUL or nothing,
// one name twice in a directory, symlinks to anywhere. It is what a hostile
// peer can serve, and what the content layer and the CLI must survive.
//
// It imports only boxo's merkledag and unixfs (never content, so that the
// content package's own tests can use it).
package contenttest

import (
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Link is one entry of a hand-made directory: a name, as is, and its node.
type Link struct {
	Name string
	Node ipld.Node
}

// DAG collects the nodes it builds so that their blocks can be stored or
// served. The zero value is ready to use.
type DAG struct {
	nodes []ipld.Node
	seen  map[cid.Cid]bool
}

func (d *DAG) keep(n ipld.Node) {
	if d.seen == nil {
		d.seen = map[cid.Cid]bool{}
	}
	if !d.seen[n.Cid()] {
		d.seen[n.Cid()] = true
		d.nodes = append(d.nodes, n)
	}
}

// File is a UnixFS file holding data in one dag-pb node.
func (d *DAG) File(data []byte) *merkledag.ProtoNode {
	n := merkledag.NodeWithData(unixfs.FilePBData(data, uint64(len(data))))
	d.keep(n)
	return n
}

// LyingFile is a UnixFS file holding data in one dag-pb node whose
// recorded size is size, true or not.
func (d *DAG) LyingFile(data []byte, size uint64) *merkledag.ProtoNode {
	n := merkledag.NodeWithData(unixfs.FilePBData(data, size))
	d.keep(n)
	return n
}

// Symlink is a UnixFS symlink to target, stored verbatim.
func (d *DAG) Symlink(target string) *merkledag.ProtoNode {
	data, err := unixfs.SymlinkData(target)
	if err != nil {
		panic(fmt.Sprintf("contenttest: symlink data: %v", err))
	}
	n := merkledag.NodeWithData(data)
	d.keep(n)
	return n
}

// Dir is a basic UnixFS directory with exactly these links, names
// unchecked and duplicates kept. dag-pb encoding orders links by name (a
// stable sort), so links of one name keep the order given here.
func (d *DAG) Dir(links ...Link) *merkledag.ProtoNode {
	n := merkledag.NodeWithData(unixfs.FolderPBData())
	ls := make([]*ipld.Link, 0, len(links))
	for _, l := range links {
		size, err := l.Node.Size()
		if err != nil {
			panic(fmt.Sprintf("contenttest: size of %s: %v", l.Node.Cid(), err))
		}
		ls = append(ls, &ipld.Link{Name: l.Name, Size: size, Cid: l.Node.Cid()})
	}
	n.SetLinks(ls)
	d.keep(n)
	return n
}

// Blocks returns the blocks of every node built so far.
func (d *DAG) Blocks() []blocks.Block {
	out := make([]blocks.Block, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, n)
	}
	return out
}

// Nodes returns every node built so far, in the order they were built
// (children before the directories that link them).
func (d *DAG) Nodes() []ipld.Node { return append([]ipld.Node(nil), d.nodes...) }
