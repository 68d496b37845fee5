package content

import (
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func TestProvideTracker(t *testing.T) {
	var tr provideTracker
	h, err := mh.Sum([]byte("root"), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(cid.Raw, h)
	now := time.Unix(1_700_000_000, 0)
	if !tr.claim(c, now) {
		t.Fatal("first claim refused")
	}
	if tr.claim(c, now) {
		t.Fatal("claimed while in flight")
	}
	tr.done(c, false, now) // failed: the next pin tries again
	if !tr.claim(c, now) {
		t.Fatal("claim refused after a failed provide")
	}
	tr.done(c, true, now)
	if tr.claim(c, now.Add(recentProvide-time.Second)) {
		t.Fatal("provided again within recentProvide")
	}
	if !tr.claim(c, now.Add(recentProvide)) {
		t.Fatal("claim refused once the last provide is old")
	}
}
