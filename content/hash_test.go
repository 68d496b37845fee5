package content

import (
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
)

// Hash gives the CIDs Add gives (kubo's, recorded in goldenDirs), for every
// option set, HAMT-sharded directories included.
func TestHashEqualsAddKubo(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	dirs := goldenDirs(t)
	for _, set := range kuboOptionSets {
		for _, d := range dirs {
			name := set.name + "/" + d.name
			t.Run(name, func(t *testing.T) {
				want := kuboGoldenDirCIDs[name]
				if want == "" {
					t.Skip("no golden value recorded")
				}
				node, err := OpenPath(d.path, false)
				if err != nil {
					t.Fatal(err)
				}
				c, err := Hash(testCtx(t, time.Minute), node, set.opts)
				if err != nil {
					t.Fatal(err)
				}
				if c.String() != want {
					t.Errorf("Hash CID %s, Add and kubo give %s (kubo ipfs add -r %s)", c, want, strings.Join(set.kuboArgs, " "))
				}
			})
		}
	}
	// A multi-chunk file: the root equals Add's.
	data := randBytes(3, 3<<20+17)
	want := addBytes(t, s, data, AddOptions{})
	got, err := Hash(testCtx(t, time.Minute), files.NewBytesFile(data), AddOptions{})
	if err != nil || got != want {
		t.Fatalf("Hash of a 3 MiB file: %s, %v; Add gives %s", got, err, want)
	}
	if _, err := Hash(testCtx(t, time.Minute), files.NewBytesFile(nil), AddOptions{Chunker: "size-x"}); err == nil {
		t.Fatal("Hash with a bad chunker: no error")
	}
}
