package manifest_test

import (
	"strings"
	"testing"

	"github.com/shoalnet/shoal/testground/manifest"
)

const m = `
name = "p"
[runners."sim"]
enabled = true
[report]
cdf = ["lat"]
[[testcases]]
name = "c"
instances = { min = 2, max = 10, default = 4 }
  [testcases.params]
  n = { type = "int", default = 3 }
  f = { type = "float", default = 0.5 }
  d = { type = "duration", default = "250ms" }
  b = { type = "bool", default = true }
  s = { type = "string", default = "x" }
`

func TestResolve(t *testing.T) {
	man, err := manifest.Parse([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	if !man.RunnerEnabled("sim") || man.RunnerEnabled("local:exec") || man.Report.CDF[0] != "lat" {
		t.Fatalf("manifest %+v", man)
	}
	tc, err := man.Case("")
	if err != nil || tc.Name != "c" {
		t.Fatalf("default case: %v %v", tc, err)
	}
	got, err := tc.Resolve(map[string]string{"n": "5"}, nil, map[string]string{"n": "7", "d": "2s"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n": "7", "f": "0.5", "d": "2s", "b": "true", "s": "x"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []map[string]string{{"n": "x"}, {"d": "5"}, {"nope": "1"}, {"s": "a|b"}, {"b": "maybe"}} {
		if _, err := tc.Resolve(bad); err == nil {
			t.Errorf("Resolve(%v) accepted", bad)
		}
	}
	if _, err := man.Case("other"); err == nil || !strings.Contains(err.Error(), "it has: c") {
		t.Errorf("unknown case error: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		`name = ""`,
		`name = "p"`,
		"name = \"p\"\n[[testcases]]\nname = \"c\"\ninstances = { min = 3, max = 2, default = 2 }",
		"name = \"p\"\n[[testcases]]\nname = \"c\"\ninstances = { min = 1, max = 2, default = 1 }\n[testcases.params]\nx = { type = \"int\", default = \"z\" }",
	} {
		if _, err := manifest.Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestComposition(t *testing.T) {
	c, err := manifest.ParseComposition([]byte(`
[metadata]
name = "x"
[global]
plan = "p"
case = "c"
runner = "sim"
total_instances = 10
  [global.run_config]
  latency = "5ms"
[[groups]]
id = "a"
instances = { percentage = 0.2 }
[[groups]]
id = "b"
instances = { count = 8 }
  [groups.run.test_params]
  k = "v"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Groups[0].Instances.Count != 2 || c.Groups[1].Run.TestParams["k"] != "v" || c.Global.RunConfig["latency"] != "5ms" {
		t.Fatalf("composition %+v", c)
	}
	for _, bad := range []string{
		"[global]\nplan = \"p\"\ntotal_instances = 3\n[[groups]]\nid = \"a\"\ninstances = { count = 2 }",
		"[global]\nplan = \"p\"\n[[groups]]\nid = \"a\"\ninstances = { percentage = 0.5 }",
		"[global]\nplan = \"p\"\ntotal_instances = 2\ntypo = 1",
		"[global]\ntotal_instances = 2",
	} {
		if _, err := manifest.ParseComposition([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// A table nested in run_config (Shoal's nat) is the runner's to check.
	nat, err := manifest.ParseComposition([]byte("[global]\nplan = \"p\"\ntotal_instances = 3\n[global.run_config.nat]\nsingle = \"symmetric\""))
	if err != nil {
		t.Fatalf("nested run_config table refused: %v", err)
	}
	if tbl, ok := nat.Global.RunConfig["nat"].(map[string]any); !ok || tbl["single"] != "symmetric" {
		t.Fatalf("run_config.nat = %#v", nat.Global.RunConfig["nat"])
	}
	single, err := manifest.ParseComposition([]byte("[global]\nplan = \"p\"\ntotal_instances = 3"))
	if err != nil || len(single.Groups) != 1 || single.Groups[0].ID != "single" || single.Groups[0].Instances.Count != 3 {
		t.Fatalf("no groups: %v %+v", err, single)
	}
}
