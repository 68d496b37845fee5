package content

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestNoDirectConnError(t *testing.T) {
	c := cid.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	one := &NoDirectConnError{CID: c, Providers: []peer.ID{"p"}, Attempts: 3}
	want := "no direct connection to the only provider of " + c.String()
	if !strings.Contains(one.Error(), want) || !strings.Contains(one.Error(), "hole punch failed after 3 attempts; see shoal doctor") {
		t.Fatalf("message = %q", one.Error())
	}
	if !errors.Is(one, ErrNoDirectConn) || !errors.Is(one, ErrNotFound) || errors.Is(one, ErrNoProviders) {
		t.Fatal("errors.Is")
	}
	two := &NoDirectConnError{CID: c, Providers: []peer.ID{"p", "q"}}
	if !strings.Contains(two.Error(), "any of the 2 providers") {
		t.Fatalf("message = %q", two.Error())
	}
	var ps providerSet
	ps.add("p")
	ps.add("p")
	ps.add("q")
	if got := ps.list(); len(got) != 2 {
		t.Fatalf("providerSet = %v", got)
	}
}
