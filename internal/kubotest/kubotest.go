// Package kubotest runs a stock kubo daemon for interop tests: on
// loopback only, with no bootstrap peers and no routing. The binary is
// $SHOAL_KUBO (scripts/kubo.sh builds it into the tools cache and prints
// its path). It imports nothing of Shoal, so any package's tests may use it.
package kubotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Kubo is a running kubo daemon.
type Kubo struct {
	bin, repo string
	// ID is its peer ID; Addr its loopback TCP swarm address with /p2p/ID.
	ID   peer.ID
	Addr ma.Multiaddr
}

// Binary returns $SHOAL_KUBO, skipping the test when it is unset (failing
// it when CI=true, where scripts/tools.sh always builds it).
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("SHOAL_KUBO")
	if bin == "" {
		msg := "this test needs SHOAL_KUBO=path to kubo's ipfs v0.43.1 (build it with: export SHOAL_KUBO=$(scripts/kubo.sh))"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("SHOAL_KUBO=%s: %v", bin, err)
	}
	return bin
}

// Start inits a kubo repo in a temporary directory and runs its daemon
// until the test ends.
func Start(tb testing.TB) *Kubo {
	tb.Helper()
	k := &Kubo{bin: Binary(tb), repo: tb.TempDir()}
	k.Run(tb, nil, "init", "--profile=test")
	k.Run(tb, nil, "config", "--json", "Addresses.Swarm", `["/ip4/127.0.0.1/tcp/0"]`)
	k.Run(tb, nil, "config", "--json", "Addresses.API", `"/ip4/127.0.0.1/tcp/0"`)
	k.Run(tb, nil, "config", "--json", "Addresses.Gateway", `"/ip4/127.0.0.1/tcp/0"`)
	k.Run(tb, nil, "config", "Routing.Type", "none")

	cmd := exec.Command(k.bin, "daemon")
	cmd.Env = k.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start kubo daemon: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
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
		tb.Fatalf("kubo exited before it was ready: %s", stderr.String())
	case <-time.After(90 * time.Second):
		tb.Fatalf("kubo daemon not ready after 90s; stderr: %s", stderr.String())
	}

	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal(k.Run(tb, nil, "id"), &id); err != nil {
		tb.Fatalf("kubo id: %v", err)
	}
	if k.ID, err = peer.Decode(id.ID); err != nil {
		tb.Fatal(err)
	}
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if k.Addr, err = ma.NewMultiaddr(a); err != nil {
				tb.Fatal(err)
			}
			break
		}
	}
	if k.Addr == nil {
		tb.Fatalf("kubo has no loopback TCP address: %v", id.Addresses)
	}
	return k
}

func (k *Kubo) env() []string {
	return append(os.Environ(), "IPFS_PATH="+k.repo, "IPFS_TELEMETRY=off")
}

// Run runs an ipfs command with stdin and returns its stdout, failing the
// test on error.
func (k *Kubo) Run(tb testing.TB, stdin []byte, args ...string) []byte {
	tb.Helper()
	out, err := k.Try(stdin, args...)
	if err != nil {
		tb.Fatalf("ipfs %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try runs an ipfs command and returns its stdout and an error that
// carries its stderr.
func (k *Kubo) Try(stdin []byte, args ...string) ([]byte, error) {
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
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Add runs `ipfs add -Q -r` on path with args and returns the root CID.
func (k *Kubo) Add(tb testing.TB, path string, args ...string) string {
	tb.Helper()
	a := append([]string{"add", "-Q", "-r"}, args...)
	return strings.TrimSpace(string(k.Run(tb, nil, append(a, path)...)))
}

// Info is the daemon's peer ID and address.
func (k *Kubo) Info() peer.AddrInfo {
	return peer.AddrInfo{ID: k.ID, Addrs: []ma.Multiaddr{k.Addr}}
}

// P2PAddr is Addr as a string, for a --bootstrap flag.
func (k *Kubo) P2PAddr() string { return k.Addr.String() }

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

// Command is an ipfs command on this daemon's repo, for a test that wants
// to stream its output.
func (k *Kubo) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env()
	return cmd
}

// APIURL is the base URL of its RPC API (http://127.0.0.1:PORT), read
// from the api file the daemon writes in its repo.
func (k *Kubo) APIURL(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(k.repo, "api"))
	if err != nil {
		tb.Fatalf("kubo api file: %v", err)
	}
	a, err := ma.NewMultiaddr(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("kubo api address %q: %v", b, err)
	}
	host, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		tb.Fatalf("kubo api address %s: %v", a, err)
	}
	port, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		tb.Fatalf("kubo api address %s: %v", a, err)
	}
	return "http://" + host + ":" + port
}
