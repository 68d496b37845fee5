package trust

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKey(t testing.TB, seed int64) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testPeer(t testing.TB, seed int64) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(testKey(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func issue(t testing.TB, org crypto.PrivKey, name string, p peer.ID, role Role) *Cert {
	t.Helper()
	c, err := Issue(org, name, p, role, t0, DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueDecodeRoundTrip(t *testing.T) {
	org, member := testKey(t, 1), testPeer(t, 2)
	c := issue(t, org, "acme", member, RoleRequester)
	if n := len(c.Bytes()); n > 300 {
		t.Fatalf("certificate is %d bytes; expected about 250", n)
	}
	got, err := DecodeCert(c.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Org != "acme" || got.Peer != member || got.Role != RoleRequester || !got.Issued.Equal(t0) ||
		!got.Expires.Equal(t0.Add(DefaultValidity)) || !got.OrgKey.Equals(org.GetPublic()) || got.ID() != c.ID() {
		t.Fatalf("decoded %+v, want the issued certificate", got)
	}
	// The PEM file form reads back to the same bytes; so does the raw form.
	for name, file := range map[string][]byte{"pem": c.EncodePEM(), "raw": c.Bytes()} {
		again, err := ParseCertFile(file)
		if err != nil || !bytes.Equal(again.Bytes(), c.Bytes()) {
			t.Fatalf("%s: ParseCertFile = %v", name, err)
		}
	}
	if !strings.Contains(string(c.EncodePEM()), "BEGIN "+PEMType) {
		t.Fatalf("PEM form lacks its type:\n%s", c.EncodePEM())
	}
	// The longest org name still fits.
	long := issue(t, org, strings.Repeat("a", MaxOrgNameLen), member, RoleBoth)
	if len(long.Bytes()) > MaxCertSize {
		t.Fatalf("longest certificate is %d bytes", len(long.Bytes()))
	}
}

func TestDecodeRejects(t *testing.T) {
	org, member := testKey(t, 1), testPeer(t, 2)
	good := issue(t, org, "acme", member, RoleExecutor).Bytes()
	altered := bytes.Replace(good, []byte("executor"), []byte("requests"), 1)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not a certificate"), ErrMalformed},
		{"too large", make([]byte, MaxCertSize+1), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"altered role", altered, ErrMalformed}, // "requests" is not a role
		{"altered peer", bytes.Replace(good, []byte(member), []byte(testPeer(t, 3)), 1), ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeCert(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("DecodeCert = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseCertFile([]byte("-----BEGIN SOMETHING ELSE-----\nAAAA\n-----END SOMETHING ELSE-----\n")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong PEM type: %v", err)
	}
}

func TestIssueValidates(t *testing.T) {
	org, member := testKey(t, 1), testPeer(t, 2)
	for name, f := range map[string]func() error{
		"bad org name": func() error { _, err := Issue(org, "-acme", member, RoleBoth, t0, time.Hour); return err },
		"bad role":     func() error { _, err := Issue(org, "acme", member, "admin", t0, time.Hour); return err },
		"no ttl":       func() error { _, err := Issue(org, "acme", member, RoleBoth, t0, 0); return err },
		"too long":     func() error { _, err := Issue(org, "acme", member, RoleBoth, t0, MaxValidity+time.Hour); return err },
		"no peer":      func() error { _, err := Issue(org, "acme", "", RoleBoth, t0, time.Hour); return err },
	} {
		if err := f(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestRootsCheck(t *testing.T) {
	acme, other, member := testKey(t, 1), testKey(t, 9), testPeer(t, 2)
	c := issue(t, acme, "acme", member, RoleRequester)
	forged := issue(t, other, "acme", member, RoleRequester) // right name, wrong key
	roots := func(deny ...string) *Roots {
		r, err := NewRoots(map[string]string{"acme": FormatPublicKey(acme.GetPublic())}, deny)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		roots *Roots
		cert  *Cert
		role  Role
		now   time.Time
		want  error
		msg   string
	}{
		{"member", roots(), c, RoleRequester, t0.Add(time.Hour), nil, ""},
		{"expired", roots(), c, RoleRequester, t0.Add(DefaultValidity), ErrExpired, "certificate for acme expired at 2026-03-31T12:00:00Z"},
		{"not yet", roots(), c, RoleRequester, t0.Add(-time.Hour), ErrNotYetValid, "not valid before"},
		{"wrong role", roots(), c, RoleExecutor, t0, ErrWrongRole, "grants role requester, not executor"},
		{"forged", roots(), forged, RoleRequester, t0, ErrForeignKey, "not signed by the key trusted for acme"},
		{"untrusted", &Roots{}, c, RoleRequester, t0, ErrUntrusted, "does not trust"},
		{"peer denied", roots(member.String()), c, RoleRequester, t0, ErrRevoked, "revoked"},
		{"cert denied", roots(c.ID().String()), c, RoleRequester, t0, ErrRevoked, "revoked"},
		{"other cert denied", roots(forged.ID().String()), c, RoleRequester, t0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.roots.Check(tc.cert, tc.role, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Check = %q, want it to say %q", err, tc.msg)
			}
		})
	}
	if _, err := NewRoots(nil, []string{"nonsense"}); err == nil {
		t.Fatal("a deny-list entry that is neither a peer nor a certificate ID was accepted")
	}
	if _, err := NewRoots(map[string]string{"acme": "nonsense"}, nil); err == nil {
		t.Fatal("a trusted org with an unreadable key was accepted")
	}
}

func TestPublicKeyText(t *testing.T) {
	k := testKey(t, 1).GetPublic()
	s := FormatPublicKey(k)
	if !strings.HasPrefix(s, "bafzaa") {
		t.Fatalf("FormatPublicKey = %q, want a libp2p-key CID (bafzaa…)", s)
	}
	for _, in := range []string{s, testPeerOfKey(t, k).String()} {
		got, err := ParsePublicKey(in)
		if err != nil || !got.Equals(k) {
			t.Fatalf("ParsePublicKey(%q) = %v", in, err)
		}
	}
	if _, err := ParsePublicKey("bafkreiag5ijdjadfh2jpuwv74ssujlliubradhlicoc3g27llyuxcoxjwu"); err == nil {
		t.Fatal("a raw-codec CID was taken for a key")
	}
}

func testPeerOfKey(t *testing.T, k crypto.PubKey) peer.ID {
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
