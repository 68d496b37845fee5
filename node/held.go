package node

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/ipfs/go-cid"
)

// maxHeldImports bounds how many imports of url inputs the node's bids
// remember. An entry is a sha256 of the URL, a CID and a size (about 200
// bytes with its list element), so the map stays under 1 MiB whatever the
// URLs jobs name; past the bound the least recently imported URL is
// forgotten first. A forgotten import only stops counting as local in
// bids: its datastore record still lets Import reuse it.
const maxHeldImports = 4096

// heldImports is, per URL, the root and size of the node's last import of
// it that Import could reuse (the server gave an ETag or Last-Modified)
// and that is still pinned: what admission counts as local bytes for a url
// input (market.Remote.HeldImport). It answers from memory. It is filled
// by imports and, at start, from the datastore records of earlier ones
// (remote.loadHeld), and forgets a root as soon as it is unpinned
// (content.Config.OnUnpin), so a bid never counts content that GC may take.
// Only the node's own imports enter it: a requester can name any URL, but
// cannot make the node claim content it did not download and pin.
type heldImports struct {
	mu    sync.Mutex
	max   int
	byURL map[[32]byte]*list.Element // of *heldImport
	order *list.List                 // most recently imported first
}

type heldImport struct {
	key  [32]byte
	root cid.Cid
	size int64
}

func newHeldImports(max int) *heldImports {
	return &heldImports{max: max, byURL: map[[32]byte]*list.Element{}, order: list.New()}
}

// put remembers root (size bytes) as the import of url held here.
func (h *heldImports) put(url string, root cid.Cid, size int64) {
	k := sha256.Sum256([]byte(url))
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.byURL[k]; ok {
		im := e.Value.(*heldImport)
		im.root, im.size = root, size
		h.order.MoveToFront(e)
		return
	}
	h.byURL[k] = h.order.PushFront(&heldImport{key: k, root: root, size: size})
	for h.order.Len() > h.max {
		old := h.order.Back()
		h.order.Remove(old)
		delete(h.byURL, old.Value.(*heldImport).key)
	}
}

// get returns the import of url held here, or cid.Undef.
func (h *heldImports) get(url string) (cid.Cid, int64) {
	k := sha256.Sum256([]byte(url))
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.byURL[k]
	if !ok {
		return cid.Undef, 0
	}
	im := e.Value.(*heldImport)
	return im.root, im.size
}

// drop forgets the import of url.
func (h *heldImports) drop(url string) {
	k := sha256.Sum256([]byte(url))
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.byURL[k]; ok {
		h.order.Remove(e)
		delete(h.byURL, k)
	}
}

// forget drops every import whose root is c (c was unpinned). Several URLs
// may share a root (the same bytes); the scan is bounded by max.
func (h *heldImports) forget(c cid.Cid) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for e := h.order.Front(); e != nil; {
		next := e.Next()
		if im := e.Value.(*heldImport); im.root == c {
			h.order.Remove(e)
			delete(h.byURL, im.key)
		}
		e = next
	}
}

// len is how many imports are held.
func (h *heldImports) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.order.Len()
}
