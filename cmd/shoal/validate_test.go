package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/internal/testnet"
)

// `shoal job validate` needs no daemon: a good spec prints its job ID (the
// same with local files hashed as with their CIDs written out), a bad one
// fails with every field error at its line.
func TestJobValidate(t *testing.T) {
	bin := testnet.Binary(t)
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		mustWrite(t, p, []byte(doc))
		return p
	}
	write("mod.wasm", "\x00asm\x01\x00\x00\x00")
	write("data/a.txt", "some words\n")
	validate := func(args ...string) (string, string, error) {
		return shoalCmd(t, bin, nil, append([]string{"--repo", filepath.Join(dir, "no-repo"), "job", "validate"}, args...)...)
	}

	local := write("local.yaml", "name: v\nengine:\n  wasm:\n    module: ./mod.wasm\ninputs:\n  - src: data\n    path: /in\n")
	out, stderr, err := validate(local)
	if err != nil {
		t.Fatalf("validate: %v %s", err, stderr)
	}
	for _, want := range []string{local + ": valid (batch job, engine wasm)", "job ID:  bafyrei", "engine.wasm.module", "./mod.wasm", "inputs[0].src", "hashed as `shoal add` would"} {
		if !strings.Contains(out, want) {
			t.Fatalf("validate output does not say %q:\n%s", want, out)
		}
	}
	id, _, err := validate("--quiet", local)
	if err != nil {
		t.Fatal(err)
	}
	// The hashed CIDs are those `shoal add` prints: the spec written with
	// them has the same job ID.
	var modCID, dataCID string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "engine.wasm.module" {
			modCID = f[2]
		}
		if len(f) == 3 && f[0] == "inputs[0].src" {
			dataCID = f[2]
		}
	}
	d := testnet.Start(t, testnet.Options{})
	if got := addQ(t, d, filepath.Join(dir, "mod.wasm")); got != modCID {
		t.Fatalf("validate hashed the module as %s, shoal add gives %s", modCID, got)
	}
	if got := addQ(t, d, "-r", filepath.Join(dir, "data")); got != dataCID {
		t.Fatalf("validate hashed the input as %s, shoal add gives %s", dataCID, got)
	}
	byCID := write("bycid.yaml", "name: v\nengine:\n  wasm:\n    module: "+modCID+"\ninputs:\n  - cid: "+dataCID+"\n    path: /in\n")
	id2, _, err := validate("-q", byCID)
	if err != nil || id2 != id || !strings.HasPrefix(id, "bafyrei") {
		t.Fatalf("job ID with local paths %q, with their CIDs %q (%v)", id, id2, err)
	}
	// --no-hash: found, but no job ID.
	out, _, err = validate("--no-hash", local)
	if err != nil || !strings.Contains(out, "not computed (--no-hash)") || strings.Contains(out, "bafyrei") {
		t.Fatalf("validate --no-hash: %v\n%s", err, out)
	}

	wasm := "engine:\n  wasm:\n    module: ./mod.wasm\n"
	for _, tc := range []struct {
		name, doc string
		want      []string // ":LINE: field: ..." follows the file name; others anywhere
	}{
		{"unknown field", wasm + "timout: 5m\n", []string{":4: timout: unknown field: did you mean \"timeout\"?"}},
		{"bad CID", "engine:\n  wasm:\n    module: bafyfoo\n", []string{":3: engine.wasm.module: invalid value: \"bafyfoo\" is not a CID"}},
		{"missing module", "name: x\nengine:\n  wasm:\n    args: [a]\n", []string{":3: engine.wasm.module: required"}},
		{"missing local module", "name: x\nengine:\n  wasm:\n    module: ./nope.wasm\n", []string{":4: engine.wasm.module: invalid value: ./nope.wasm: no such file or directory"}},
		{"module a directory", "engine:\n  wasm:\n    module: ./data\n", []string{":3: engine.wasm.module: invalid value: ./data:", "is a directory"}},
		{"bad duration", wasm + "resources:\n  memory: 64MiB\ntimeout: 5\n", []string{":6: timeout: invalid value"}},
		{"two errors", wasm + "inputs:\n  - src: ./missing-dir\n    path: rel\nqueue_timeout: soon\n", []string{":5: inputs[0].src: invalid value: ./missing-dir: no such file", ":7: queue_timeout: invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.doc)
			out, stderr, err := validate(f)
			if err == nil {
				t.Fatalf("validate succeeded, want an error:\n%s", out)
			}
			if strings.Contains(out, "valid") || strings.Contains(out, "job ID") {
				t.Fatalf("invalid spec reported valid:\n%s", out)
			}
			for _, w := range tc.want {
				if strings.HasPrefix(w, ":") { // a line: FILE:LINE: ...
					w = f + w
				}
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "no-repo")); !os.IsNotExist(err) {
		t.Fatalf("validate touched the repo: %v", err)
	}
}
