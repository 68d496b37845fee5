package content

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
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// kubo is a kubo daemon for interop tests, on loopback only, with no
// bootstrap peers and no routing.
type kubo struct {
	bin  string
	repo string
	id   peer.ID
	addr ma.Multiaddr // a swarm address, with /p2p/ID
}

// kuboBinary returns $SHOAL_KUBO, skipping the test when it is unset (and
// failing it when CI=true). scripts/kubo.sh builds kubo and prints the path.
func kuboBinary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("SHOAL_KUBO")
	if bin == "" {
		msg := "kubo interop test needs SHOAL_KUBO=path to kubo's ipfs v0.43.1 (build it with: export SHOAL_KUBO=$(scripts/kubo.sh))"
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

// startKubo inits a kubo repo in a temporary directory and runs its daemon
// until the test ends.
func startKubo(tb testing.TB) *kubo {
	tb.Helper()
	k := &kubo{bin: kuboBinary(tb), repo: tb.TempDir()}
	k.run(tb, nil, "init", "--profile=test")
	k.run(tb, nil, "config", "--json", "Addresses.Swarm", `["/ip4/127.0.0.1/tcp/0"]`)
	k.run(tb, nil, "config", "--json", "Addresses.API", `"/ip4/127.0.0.1/tcp/0"`)
	k.run(tb, nil, "config", "--json", "Addresses.Gateway", `"/ip4/127.0.0.1/tcp/0"`)
	k.run(tb, nil, "config", "Routing.Type", "none")

	cmd := exec.Command(k.bin, "daemon")
	cmd.Env = k.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start kubo daemon: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
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
	case <-time.After(60 * time.Second):
		tb.Fatalf("kubo daemon not ready after 60s; stderr: %s", stderr.String())
	}

	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal(k.run(tb, nil, "id"), &id); err != nil {
		tb.Fatalf("kubo id: %v", err)
	}
	k.id, err = peer.Decode(id.ID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			k.addr, err = ma.NewMultiaddr(a)
			if err != nil {
				tb.Fatal(err)
			}
			break
		}
	}
	if k.addr == nil {
		tb.Fatalf("kubo has no loopback TCP address: %v", id.Addresses)
	}
	return k
}

func (k *kubo) env() []string {
	return append(os.Environ(), "IPFS_PATH="+k.repo, "IPFS_TELEMETRY=off")
}

// run runs an ipfs command and returns its stdout, failing the test on error.
func (k *kubo) run(tb testing.TB, stdin []byte, args ...string) []byte {
	tb.Helper()
	out, err := k.try(stdin, args...)
	if err != nil {
		tb.Fatalf("ipfs %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (k *kubo) try(stdin []byte, args ...string) ([]byte, error) {
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

// add runs `ipfs add -Q` on path with args and returns the root CID.
func (k *kubo) add(tb testing.TB, path string, args ...string) string {
	tb.Helper()
	a := append([]string{"add", "-Q", "-r"}, args...)
	return strings.TrimSpace(string(k.run(tb, nil, append(a, path)...)))
}

func (k *kubo) info() peer.AddrInfo {
	return peer.AddrInfo{ID: k.id, Addrs: []ma.Multiaddr{k.addr}}
}

// TestKuboAddCIDs: for every documented option set, our CIDs equal kubo's
// for the golden inputs and for a directory tree (nested and empty
// directories, symlinks) and a directory large enough to be HAMT-sharded.
// It logs kubo's CIDs in the form of kuboGoldenCIDs.
func TestKuboAddCIDs(t *testing.T) {
	k := startKubo(t)
	s := newTestNode(t, testOpts{noRouter: true}).store
	dir := t.TempDir()
	var golden []string
	for _, g := range kuboGolden {
		t.Run(g.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(g.name, "/", "_"))
			data := goldenData(g.data)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			want := k.add(t, p, g.kuboArgs...)
			golden = append(golden, fmt.Sprintf("%q: %q,", g.name, want))
			got := addBytes(t, s, data, g.opts)
			if got.String() != want {
				t.Errorf("CID %s, kubo ipfs add %s gives %s", got, strings.Join(g.kuboArgs, " "), want)
			}
			if g.want != "" && g.want != want {
				t.Errorf("kubo gives %s, recorded golden value is %s", want, g.want)
			}
		})
	}
	t.Logf("kubo CIDs:\n%s", strings.Join(golden, "\n"))

	dirs := goldenDirs(t)
	var dirGolden []string
	for _, set := range kuboOptionSets {
		for _, d := range dirs {
			t.Run(set.name+"/"+d.name, func(t *testing.T) {
				want := k.add(t, d.path, set.kuboArgs...)
				dirGolden = append(dirGolden, fmt.Sprintf("%q: %q,", set.name+"/"+d.name, want))
				node, err := OpenPath(d.path, false)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Add(testCtx(t, time.Minute), node, set.opts)
				if err != nil {
					t.Fatal(err)
				}
				if got.String() != want {
					t.Errorf("directory CID %s, kubo ipfs add -r %s gives %s", got, strings.Join(set.kuboArgs, " "), want)
				}
			})
		}
	}
	t.Logf("kubo directory CIDs:\n%s", strings.Join(dirGolden, "\n"))
	// The HAMT really is a HAMT.
	c, err := s.Add(testCtx(t, time.Minute), mustOpen(t, dirs[2].path), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := s.offline.Get(testCtx(t, time.Minute), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(nd.Links()) > 256 {
		t.Errorf("hamt-dir root has %d links: not sharded", len(nd.Links()))
	}
	entries, err := s.Ls(testCtx(t, time.Minute), c)
	if err != nil || len(entries) != 4000 {
		t.Errorf("ls of HAMT directory: %d entries, %v", len(entries), err)
	}
}

func mustOpen(tb testing.TB, p string) files.Node {
	tb.Helper()
	n, err := OpenPath(p, false)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestKuboFetch: kubo fetches from a Store over bitswap, and a Store
// fetches from kubo, on loopback.
func TestKuboFetch(t *testing.T) {
	k := startKubo(t)
	n := newTestNode(t, testOpts{noRouter: true, findTimeout: 10 * time.Second})

	t.Run("kubo gets from shoal", func(t *testing.T) {
		ctx := testCtx(t, 3*time.Minute)
		data := randBytes(21, 10<<20+99)
		c := addBytes(t, n.store, data, AddOptions{Pin: true})
		for _, a := range n.h.Addrs() {
			k.run(t, nil, "swarm", "connect", a.String()+"/p2p/"+n.h.ID().String())
			break
		}
		got := k.run(t, nil, "cat", c.String())
		if !bytes.Equal(got, data) {
			t.Fatalf("kubo cat: %d bytes, want %d (content differs)", len(got), len(data))
		}
		tree := makeTree(t)
		tc, err := n.store.Add(ctx, mustOpen(t, tree), AddOptions{Pin: true})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "kubo-get")
		k.run(t, nil, "get", "-o", out, tc.String())
		diffTrees(t, tree, out)
	})

	t.Run("shoal gets from kubo", func(t *testing.T) {
		ctx := testCtx(t, 3*time.Minute)
		data := randBytes(22, 10<<20+7)
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := cid.Decode(k.add(t, p, "--cid-version=1"))
		if err != nil {
			t.Fatal(err)
		}
		var last Progress
		err = n.store.Fetch(ctx, c, FetchOptions{
			Providers: []peer.AddrInfo{k.info()},
			Progress:  func(p Progress) { last = p },
		})
		if err != nil {
			t.Fatalf("fetch from kubo: %v", err)
		}
		if last.Bytes != last.Total {
			t.Errorf("progress ended at %+v", last)
		}
		if got := catAll(t, ctx, n.store, c); !bytes.Equal(got, data) {
			t.Fatal("content from kubo differs")
		}
		tree := makeTree(t)
		tc, err := cid.Decode(k.add(t, tree))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "from-kubo")
		if err := n.store.WriteTo(ctx, tc, out, false); err != nil {
			t.Fatal(err)
		}
		diffTrees(t, tree, out)
	})
}
