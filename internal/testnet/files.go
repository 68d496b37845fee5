package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"

	"github.com/shoalnet/shoal/content"
)

// ServeBlocks starts a bare libp2p host on 127.0.0.1 with a content Store
// (bitswap, no DHT) holding blks, and returns its multiaddr with /p2p/ID
// for a daemon's --bootstrap. It is a peer that serves whatever blocks a
// test made by hand, hostile DAGs included. It stops at the end of the test.
func ServeBlocks(t testing.TB, blks []blocks.Block) string {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatalf("serve blocks: new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := content.New(ctx, content.Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore())})
	if err != nil {
		t.Fatalf("serve blocks: new store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, b := range blks {
		if err := s.PutBlock(ctx, b); err != nil {
			t.Fatalf("serve blocks: put %s: %v", b.Cid(), err)
		}
	}
	for _, a := range h.Addrs() {
		return a.String() + "/p2p/" + h.ID().String()
	}
	t.Fatal("serve blocks: the host has no address")
	return ""
}

// Kubo is a stock kubo daemon on loopback (no bootstrap peers, no routing)
// for tests that need a peer that is not Shoal: it serves any block put
// into it, hand-made dag-pb nodes included (`ipfs dag put --store-codec
// dag-pb`).
type Kubo struct {
	bin, repo string
	// Addr is its loopback TCP swarm address with /p2p/ID.
	Addr string
}

// StartKubo runs kubo from $SHOAL_KUBO until the test ends, skipping the
// test when it is unset (failing it when CI=true); scripts/kubo.sh builds
// it and prints the path.
func StartKubo(t testing.TB) *Kubo {
	t.Helper()
	bin := os.Getenv("SHOAL_KUBO")
	if bin == "" {
		msg := "this test needs SHOAL_KUBO=path to kubo's ipfs (build it with: export SHOAL_KUBO=$(scripts/kubo.sh))"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	k := &Kubo{bin: bin, repo: t.TempDir()}
	k.Run(t, nil, "init", "--profile=test")
	k.Run(t, nil, "config", "--json", "Addresses.Swarm", `["/ip4/127.0.0.1/tcp/0"]`)
	k.Run(t, nil, "config", "--json", "Addresses.API", `"/ip4/127.0.0.1/tcp/0"`)
	k.Run(t, nil, "config", "--json", "Addresses.Gateway", `"/ip4/127.0.0.1/tcp/0"`)
	k.Run(t, nil, "config", "Routing.Type", "none")
	cmd := exec.Command(bin, "daemon")
	cmd.Env = k.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubo: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Daemon is ready") {
				close(ready)
				break
			}
		}
		for sc.Scan() { // keep draining so the daemon never blocks
		}
	}()
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("kubo exited before it was ready: %s", stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("kubo not ready after 90s: %s", stderr.String())
	}
	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal(k.Run(t, nil, "id"), &id); err != nil {
		t.Fatalf("kubo id: %v", err)
	}
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			k.Addr = a
			break
		}
	}
	if k.Addr == "" {
		t.Fatalf("kubo has no loopback TCP address: %v", id.Addresses)
	}
	return k
}

func (k *Kubo) env() []string {
	return append(os.Environ(), "IPFS_PATH="+k.repo, "IPFS_TELEMETRY=off")
}

// Run runs an ipfs command with stdin and returns its stdout, failing the
// test on error.
func (k *Kubo) Run(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ipfs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
