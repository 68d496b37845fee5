package natlab_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/natlab"
	"github.com/shoalnet/shoal/internal/testnet"
)

// world is a public bootstrap+relay node and one node per site.
type world struct {
	lab   *natlab.Lab
	relay *testnet.Daemon
	sites []*testnet.Daemon
}

func newWorld(t *testing.T, nats ...natlab.NAT) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("the NAT lab starts daemons in network namespaces: not in -short")
	}
	lab := natlab.New(t, nats...)
	w := &world{lab: lab}
	w.relay = lab.StartPublic(t, nil)
	boot := natlab.Addrs(lab.PublicIP, w.relay)
	for i := range nats {
		w.sites = append(w.sites, lab.StartSite(t, i, boot, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, d := range w.sites {
		if err := natlab.WaitRelayed(ctx, d); err != nil {
			rr, _ := w.relay.Run("doctor", "--json")
			t.Fatalf("site %d (%s NAT): %v\n%s\nrelay doctor:\n%s", i, nats[i], err, d.Log(), rr)
		}
	}
	return w
}

// addRandom adds n random bytes at d and returns the CID.
func addRandom(t *testing.T, d *testnet.Daemon, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := d.Run("add", "-q", p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestNATHolePunchUpgradesToDirect(t *testing.T) {
	w := newWorld(t, natlab.EndpointIndependent, natlab.EndpointIndependent)
	a, b := w.sites[0], w.sites[1]
	c := addRandom(t, b, 4<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := natlab.WaitFound(ctx, a, b.ID); err != nil {
		t.Fatal(err)
	}
	// A knows nothing of B but its CID: the DHT names B as provider with
	// B's /p2p-circuit address, A dials B through the relay, DCUtR
	// upgrades the connection and bitswap runs over the direct one.
	out, err := a.RunContext(ctx, nil, "get", "-o", filepath.Join(t.TempDir(), "out"), c)
	if err != nil {
		ra, _ := a.Run("doctor", "--json")
		rb, _ := b.Run("doctor", "--json")
		t.Fatalf("A fetching B's data: %v\nA doctor:\n%s\nB doctor:\n%s", err, ra, rb)
	}
	t.Logf("get: %s", out)
	ct, err := natlab.ConnTo(ctx, a, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "direct" {
		t.Fatalf("A↔B connection is %q after the fetch, want direct", ct)
	}
	r, err := natlab.Doctor(ctx, w.relay)
	if err != nil {
		t.Fatal(err)
	}
	if r.RelayService == nil || r.RelayService.Circuits == 0 {
		t.Fatalf("the relay carried no circuit: A and B did not meet through it (%+v)", r.RelayService)
	}
	if r.RelayService.Bytes >= 64<<10 {
		t.Fatalf("%d bytes crossed the relay for a 4 MiB fetch: data went over the relay", r.RelayService.Bytes)
	}
	t.Logf("relay: %+v", *r.RelayService)
	_ = fmt.Sprint
}

// TestNATSymmetricFailsClearlyOrUsesAnotherProvider: behind symmetric
// NATs the hole punch cannot work; a fetch whose only provider is the
// other NAT'd node fails with the reason, and succeeds once a reachable
// node provides the same data.
func TestNATSymmetricFailsClearlyOrUsesAnotherProvider(t *testing.T) {
	w := newWorld(t, natlab.Symmetric, natlab.Symmetric)
	a, b := w.sites[0], w.sites[1]
	data := make([]byte, 1<<20)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := b.Run("add", "-q", p)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.TrimSpace(out)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := natlab.WaitFound(ctx, a, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = a.RunContext(ctx, nil, "get", "-o", filepath.Join(t.TempDir(), "out"), c)
	if err == nil {
		t.Fatal("A fetched B's data through two symmetric NATs: the hole punch should have failed and bitswap must not use the relay")
	}
	want := "no direct connection to the only provider of " + c
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "see shoal doctor") {
		t.Fatalf("fetch error = %v, want it to say %q", err, want)
	}
	t.Logf("as expected: %v", err)
	r, err := natlab.Doctor(ctx, w.relay)
	if err != nil {
		t.Fatal(err)
	}
	if r.RelayService.Bytes >= 64<<10 {
		t.Fatalf("%d bytes crossed the relay while the fetch failed: data went over the relay", r.RelayService.Bytes)
	}
	// The public node adds the same bytes: same CID, a provider A can
	// reach directly.
	if out, err := w.relay.Run("add", "-q", p); err != nil || strings.TrimSpace(out) != c {
		t.Fatalf("public node add: %q %v", out, err)
	}
	if _, err := a.RunContext(ctx, nil, "get", "-o", filepath.Join(t.TempDir(), "out2"), c); err != nil {
		t.Fatalf("fetch with a reachable provider: %v", err)
	}
}
