package trust

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDirectoryMembers(t *testing.T) {
	acme, globex, rogue := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	p, q := testPeer(t, 10), testPeer(t, 11)
	roots, err := NewRoots(map[string]string{
		"acme":   FormatPublicKey(acme.GetPublic()),
		"globex": FormatPublicKey(globex.GetPublic()),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDirectory(roots, 0)
	d.now = func() time.Time { return t0.Add(time.Hour) }

	tampered := append([]byte{}, issue(t, acme, "acme", p, RoleBoth).Bytes()...)
	tampered[len(tampered)-1] ^= 1 // last signature byte
	d.Learn(p, [][]byte{
		issue(t, acme, "acme", p, RoleExecutor).Bytes(),
		issue(t, globex, "globex", p, RoleRequester).Bytes(),
		issue(t, rogue, "acme", p, RoleRequester).Bytes(), // forged: not acme's key
		issue(t, acme, "acme", q, RoleRequester).Bytes(),  // someone else's
		tampered,
	})
	orgs, _ := d.Members(p, RoleExecutor)
	if !reflect.DeepEqual(orgs, []string{"acme"}) {
		t.Fatalf("executor orgs = %v, want [acme]", orgs)
	}
	orgs, problems := d.Members(p, RoleRequester)
	if !reflect.DeepEqual(orgs, []string{"globex"}) {
		t.Fatalf("requester orgs = %v, want [globex]", orgs)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"certificate for acme grants role executor, not requester",
		"certificate for acme is not signed by the key trusted for acme",
		"certificate for acme names another peer",
		"certificate for acme has a bad signature",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not say %q:\n%s", want, all)
		}
	}

	// Changing the roots takes effect at once.
	noAcme, _ := NewRoots(map[string]string{"globex": FormatPublicKey(globex.GetPublic())}, []string{p.String()})
	d.SetRoots(noAcme)
	if orgs, _ := d.Members(p, RoleRequester); len(orgs) != 0 {
		t.Fatalf("orgs of a denied peer = %v", orgs)
	}
	d.SetRoots(roots)

	// The latest presentation replaces the earlier one; an empty one forgets.
	d.Learn(p, [][]byte{issue(t, acme, "acme", p, RoleRequester).Bytes()})
	if orgs, _ := d.Members(p, RoleRequester); !reflect.DeepEqual(orgs, []string{"acme"}) {
		t.Fatalf("after a new presentation: %v, want [acme]", orgs)
	}
	d.Learn(p, nil)
	if d.Known(p) {
		t.Fatal("an empty presentation did not forget the peer")
	}
}

func TestDirectoryIsBounded(t *testing.T) {
	acme := testKey(t, 1)
	d := NewDirectory(nil, 8)
	for i := range 50 {
		p := testPeer(t, int64(100+i))
		d.Learn(p, [][]byte{issue(t, acme, "acme", p, RoleBoth).Bytes()})
	}
	if n := len(d.peers); n != 8 {
		t.Fatalf("directory holds %d peers, bound 8", n)
	}
}
