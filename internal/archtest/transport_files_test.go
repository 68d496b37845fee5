package archtest

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// transportFiles narrows the TODO(issue 12) exception of bidding/market
// from the package to its files: inside it, only these files import a
// package of transport directly. transport.go is the transport (host,
// streams, gossip); market.go declares Config, whose Host and PubSub the
// market hands to the transport only. The requester and the executor
// import none of them.
var transportFiles = map[string][]string{
	"bidding/market": {"transport.go", "market.go"},
}

// TestTransportConfinedToItsFiles fails naming every non-test file of a
// package in transportFiles, outside the files listed, that imports a
// libp2p host, network or pubsub package.
func TestTransportConfinedToItsFiles(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on $PATH (%v): the import rules cannot be checked", err)
	}
	for pkgPath, allowed := range transportFiles {
		cmd := exec.Command(gocmd, "list", "-json=Dir,GoFiles", "./"+pkgPath)
		cmd.Dir = moduleRoot(t)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkgPath, err, stderr.Bytes())
		}
		var p struct {
			Dir     string
			GoFiles []string
		}
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if len(p.GoFiles) == 0 {
			t.Fatalf("%s has no Go files", pkgPath)
		}
		for _, name := range allowed {
			if !slices.Contains(p.GoFiles, name) {
				t.Errorf("%s/%s is named in transportFiles but does not exist: update the list", pkgPath, name)
			}
		}
		fset := token.NewFileSet()
		for _, name := range p.GoFiles {
			if slices.Contains(allowed, name) {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if matchAny(transport, path) {
					t.Errorf("%s/%s imports %s: only the transport (%v) may (bidding/doc.go, issue 12)", pkgPath, name, path, allowed)
				}
			}
		}
	}
}
