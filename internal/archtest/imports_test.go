package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is the path of this module; rule patterns without a dot in their
// first element are relative to it.
const module = "github.com/shoalnet/shoal"

// The libp2p packages that make a host, a network or gossip: bidding's
// decisions take none of them, only the transport moves messages with them.
var transport = []string{
	"github.com/libp2p/go-libp2p",
	"github.com/libp2p/go-libp2p/core/host",
	"github.com/libp2p/go-libp2p/core/network",
	"github.com/libp2p/go-libp2p/p2p/...",
	"github.com/libp2p/go-libp2p-pubsub/...",
}

// Packages that exist for tests: they import "testing", start daemons or
// drive engines, and no package of the product imports them.
var testHelpers = []string{
	"internal/testnet/...",
	"internal/kubotest",
	"internal/s3test",
	"internal/natlab",
	"internal/archtest",
	"exec/exectest",
	"exec/internal/testprog/...",
	"content/contenttest",
}

// forbidRule: no package matching pkgs (except those matching except)
// imports, directly or through others, a package matching forbid. The
// packages in todo are known to break the rule: their chains are logged,
// not failed, until the work the comment names is done.
type forbidRule struct {
	doc    string // where the rule is stated
	pkgs   []string
	except []string
	todo   []string
	forbid []string
}

var forbidRules = []forbidRule{
	{doc: "exec/doc.go, exec/docker/doc.go, exec/wasm/doc.go (exec knows nothing of jobs, content or the network)",
		pkgs: []string{"exec/..."}, forbid: []string{"bidding/...", "node/...", "content/...", "p2p/..."}},
	{doc: "content/doc.go (it must not import node, bidding, exec or p2p)",
		pkgs: []string{"content/..."}, forbid: []string{"node/...", "bidding/...", "exec/...", "p2p/..."}},
	{doc: "bidding/doc.go, bidding/jobspec/spec.go, bidding/policy/doc.go, bidding/trust/doc.go (must not import node, p2p, content or exec)",
		pkgs:   []string{"bidding", "bidding/jobspec", "bidding/policy", "bidding/trust", "bidding/internal/..."},
		forbid: []string{"node/...", "p2p/...", "content/...", "exec/..."}},
	{doc: "bidding/workflow/workflow.go (must not import node, p2p, content, exec or bidding/market)",
		pkgs: []string{"bidding/workflow"}, forbid: []string{"node/...", "p2p/...", "content/...", "exec/...", "bidding/market/..."}},
	{doc: "bidding/market/doc.go (never on node or content)",
		pkgs: []string{"bidding/market/..."}, forbid: []string{"node/...", "content/..."}},
	{doc: "bidding/doc.go, issue 12 (bidding imports no libp2p host, network or pubsub package outside the transport)",
		pkgs: []string{"bidding/..."},
		// TODO(issue 12): bidding/market holds the transport
		// (transport.go) beside the requester and the executor, so the
		// package imports libp2p's host, network and pubsub. Inside it
		// they are confined to the transport's files
		// (TestTransportConfinedToItsFiles). When the transport moves to
		// its own package and node hands it to the market, name that
		// package in except and remove this entry.
		todo:   []string{"bidding/market"},
		forbid: transport},
	{doc: "p2p/doc.go (it must not depend on node, bidding, content or exec)",
		pkgs: []string{"p2p/..."}, forbid: []string{"node/...", "bidding/...", "content/...", "exec/..."}},
	{doc: "node/doc.go (nothing below node imports it; cmd/shoal and testground use it)",
		pkgs: []string{"..."}, except: []string{"node/...", "cmd/...", "testground/...", "internal/testnet/...", "internal/natlab", "internal/natnet"},
		forbid: []string{"node/..."}},
	{doc: "STYLE.md (layers import only downward: commands are the top)",
		pkgs: []string{"..."}, except: []string{"cmd/..."}, forbid: []string{"cmd/..."}},
	{doc: "STYLE.md (the simulator drives the product, never the other way round)",
		pkgs: []string{"..."}, except: []string{"cmd/...", "testground/..."}, forbid: []string{"testground/..."}},
	{doc: "internal/natnet/natnet.go (the daemon must not import the NAT topology)",
		pkgs: []string{"node/...", "p2p/...", "bidding/...", "content/...", "exec/...", "cmd/shoal/..."}, forbid: []string{"internal/natnet"}},
	{doc: "the test helpers' docs (internal/testnet, internal/kubotest, internal/s3test, internal/natlab, exec/exectest, content/contenttest are for tests only)",
		pkgs: []string{"..."}, except: testHelpers, forbid: testHelpers},
}

// onlyRule: pkg imports directly no package of this module except those
// matching allow, and with stdOnly nothing outside the standard library.
type onlyRule struct {
	doc     string
	pkg     string
	allow   []string
	stdOnly bool
}

var onlyRules = []onlyRule{
	{doc: "exec/doc.go (it must not import anything else from this repository)", pkg: "exec"},
	// exec/internal/... is exec's own: helpers shared by its engines.
	{doc: "exec/docker/doc.go (depends only on package exec, and internal/untar for the outputs archive)", pkg: "exec/docker", allow: []string{"exec", "exec/internal/...", "internal/untar"}},
	{doc: "exec/wasm/doc.go (depends only on package exec)", pkg: "exec/wasm", allow: []string{"exec", "exec/internal/..."}},
	{doc: "exec/exectest/exectest.go (depends only on package exec and its internal test helpers)", pkg: "exec/exectest", allow: []string{"exec", "exec/internal/..."}},
	{doc: "content/contenttest/hostile.go (never content, so that its tests can use it)", pkg: "content/contenttest"},
	{doc: "bidding/doc.go (depends only on bidding/jobspec)", pkg: "bidding", allow: []string{"bidding/jobspec", "bidding/internal/..."}},
	{doc: "bidding/policy/doc.go (depends on bidding and bidding/jobspec)", pkg: "bidding/policy", allow: []string{"bidding", "bidding/jobspec"}},
	{doc: "bidding/trust/doc.go (depends on bidding and bidding/internal/dag)", pkg: "bidding/trust", allow: []string{"bidding", "bidding/internal/dag"}},
	{doc: "bidding/internal/dag/dag.go (must not import anything of Shoal)", pkg: "bidding/internal/dag"},
	{doc: "internal/fsname/fsname.go (imports nothing but the standard library)", pkg: "internal/fsname", stdOnly: true},
	{doc: "internal/untar/untar.go (only the standard library and fsname)", pkg: "internal/untar", allow: []string{"internal/fsname"}, stdOnly: true},
	{doc: "internal/kubotest/kubotest.go (imports nothing of Shoal)", pkg: "internal/kubotest"},
	{doc: "testground/sdk/runtime/runenv.go (depends on nothing of Shoal)", pkg: "testground/sdk/runtime"},
	{doc: "testground/sdk/sync/protocol.go (depends on nothing of Shoal)", pkg: "testground/sdk/sync"},
	{doc: "testground/sdk/run/run.go (depends on nothing of Shoal but the SDK)", pkg: "testground/sdk/run", allow: []string{"testground/sdk/..."}},
}

// A parent may import these children (beyond its own internal/ tree).
var childImports = map[string][]string{
	"bidding":          {"bidding/jobspec"},      // bidding/doc.go: the spec is part of an announcement
	"testground/plans": {"testground/plans/..."}, // the registry of plans (plans.go)
}

// TestImportRules checks the import graph against the rules that the
// package docs state. A failure names the rule, where it is stated, and the
// import chain that breaks it.
func TestImportRules(t *testing.T) {
	g := loadGraph(t)
	ours := g.modulePackages()
	for _, p := range []string{"exec", "content", "bidding", "bidding/market", "node", "p2p"} {
		if g[full(p)] == nil {
			t.Fatalf("package %s missing from go list: the rules below would check nothing", p)
		}
	}

	t.Run("forbidden", func(t *testing.T) {
		for _, r := range forbidRules {
			byPkg := map[string][][]string{} // the packages the rule is about
			for _, p := range ours {
				if matchAny(r.pkgs, p) && !matchAny(r.except, p) {
					byPkg[p] = g.chains(p, func(q string) bool { return matchAny(r.forbid, q) })
				}
			}
			for _, p := range ours {
				chains, ok := byPkg[p]
				if !ok {
					continue
				}
				if matchAny(r.todo, p) {
					// Logged so that they are seen, and so that an entry
					// that no longer applies is noticed and removed.
					if len(chains) == 0 {
						t.Logf("%s keeps the rule of %s now: remove it from the rule's todo", rel(p), r.doc)
					}
					for _, chain := range chains {
						t.Logf("known exception (todo): %s", strings.Join(rels(chain), " -> "))
					}
					continue
				}
				for _, chain := range chains {
					if viaOffender(chain, byPkg) {
						continue // reported at the package that imports it
					}
					t.Errorf("%s must not import %s (%s):\n\t%s", rel(p), rel(chain[len(chain)-1]), r.doc, strings.Join(rels(chain), " -> "))
				}
			}
		}
	})
	t.Run("only", func(t *testing.T) {
		for _, r := range onlyRules {
			p := g[full(r.pkg)]
			if p == nil {
				t.Errorf("%s (rule of %s) is not a package any more: update the rule", r.pkg, r.doc)
				continue
			}
			for _, imp := range p.Imports {
				q := g[imp]
				switch {
				case q == nil, q.Standard:
				case isOurs(imp) && matchAny(r.allow, imp):
				case isOurs(imp):
					t.Errorf("%s imports %s; it may import only %v of this module (%s)", r.pkg, rel(imp), r.allow, r.doc)
				case r.stdOnly:
					t.Errorf("%s imports %s; it may import only the standard library (%s)", r.pkg, imp, r.doc)
				}
			}
		}
	})
	t.Run("parents", func(t *testing.T) {
		for _, p := range ours {
			child := func(q string) bool {
				return strings.HasPrefix(q, p+"/") && !strings.HasPrefix(q, p+"/internal/") && !matchAny(childImports[rel(p)], q)
			}
			for _, chain := range g.chains(p, child) {
				t.Errorf("%s imports its child %s (STYLE.md: a parent never imports its children; the contract lives in the parent):\n\t%s",
					rel(p), rel(chain[len(chain)-1]), strings.Join(rels(chain), " -> "))
			}
		}
	})
}

// pkg is one package of `go list -deps -json`.
type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// graph maps import paths to packages: the module's packages and every
// package they import, without test files.
type graph map[string]*pkg

func loadGraph(t *testing.T) graph {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on $PATH (%v): the import rules cannot be checked", err)
	}
	cmd := exec.Command(gocmd, "list", "-deps", "-json=ImportPath,Imports,Standard", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		g[p.ImportPath] = p
	}
	return g
}

// moduleRoot is the directory of go.mod (the tests run in this package's
// directory, internal/archtest).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// modulePackages lists the packages of this module, sorted.
func (g graph) modulePackages() []string {
	var ps []string
	for p := range g {
		if isOurs(p) {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// chains returns, for every package that bad reports and that from
// reaches, one shortest import chain from from to it. The search does not
// go past a bad package.
func (g graph) chains(from string, bad func(string) bool) [][]string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	var found [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != from && bad(p) {
			var chain []string
			for q := p; q != ""; q = prev[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			found = append(found, chain)
			continue
		}
		if g[p] == nil {
			continue
		}
		for _, imp := range g[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return found
}

// viaOffender reports whether chain passes through another package that
// breaks the same rule: the break is reported there, once.
func viaOffender(chain []string, byPkg map[string][][]string) bool {
	for _, q := range chain[1 : len(chain)-1] {
		if len(byPkg[q]) > 0 {
			return true
		}
	}
	return false
}

func isOurs(p string) bool { return p == module || strings.HasPrefix(p, module+"/") }

// full turns a rule pattern into an import path pattern.
func full(pattern string) string {
	first, _, _ := strings.Cut(pattern, "/")
	switch {
	case pattern == "...":
		return module + "/..."
	case strings.Contains(first, "."):
		return pattern
	}
	return module + "/" + pattern
}

// rel shortens an import path of this module for messages.
func rel(p string) string {
	if isOurs(p) {
		return strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
	}
	return p
}

func rels(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = rel(p)
	}
	return out
}

// match reports whether path matches pattern: exactly, or pattern ends in
// "/..." and path is its base or below it.
func match(pattern, path string) bool {
	pattern = full(pattern)
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// TestMatch pins the pattern rules the import rules are written in.
func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"exec", module + "/exec", true},
		{"exec", module + "/exec/wasm", false},
		{"exec/...", module + "/exec", true},
		{"exec/...", module + "/exec/wasm", true},
		{"exec/...", module + "/executor", false},
		{"...", module + "/node", true},
		{"...", "github.com/other/x", false},
		{"github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p/core/peer", false},
		{"github.com/libp2p/go-libp2p-pubsub/...", "github.com/libp2p/go-libp2p-pubsub/pb", true},
	} {
		if got := match(c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}
