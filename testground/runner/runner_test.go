package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/report"
	"github.com/shoalnet/shoal/testground/runner"
	"github.com/shoalnet/shoal/testground/runner/internal/testplan"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

func plan(t *testing.T) *runner.Plan {
	t.Helper()
	m, err := manifest.Parse(testplan.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return &runner.Plan{Name: "testplan", Manifest: m, Cases: testplan.TestCases,
		Package: "github.com/shoalnet/shoal/testground/runner/internal/testplan/cmd"}
}

func runPlan(t *testing.T, cfg runner.Config) (*runner.Result, error) {
	t.Helper()
	cfg.Plan = plan(t)
	cfg.Outputs = t.TempDir()
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runner.Run(ctx, cfg)
	if res == nil {
		t.Fatalf("run not set up: %v", err)
	}
	return res, err
}

var execBinary struct {
	path string
	err  error
}

// binary builds the test plan once for the local:exec tests.
func binary(t *testing.T) string {
	t.Helper()
	if execBinary.path == "" && execBinary.err == nil {
		execBinary.path, execBinary.err = runner.BuildPlan(context.Background(), plan(t), ".", t.TempDir())
		if execBinary.err == nil {
			// keep it past this test's TempDir
			dst := filepath.Join(os.TempDir(), "shoal-testplan-"+runner.NewRunID())
			if b, err := os.ReadFile(execBinary.path); err == nil && os.WriteFile(dst, b, 0o755) == nil {
				execBinary.path = dst
			}
		}
	}
	if execBinary.err != nil {
		t.Fatal(execBinary.err)
	}
	return execBinary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if execBinary.path != "" {
		os.Remove(execBinary.path)
	}
	os.Exit(code)
}

func TestSuccess(t *testing.T) {
	for _, r := range []string{runner.Sim, runner.LocalExec} {
		t.Run(r, func(t *testing.T) {
			cfg := runner.Config{Case: "ok", Runner: r, Instances: 3, Params: map[string]string{"word": "hi"}}
			if r == runner.LocalExec {
				cfg.Binary = binary(t)
			}
			res, err := runPlan(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Instances) != 3 {
				t.Fatalf("%d instance results", len(res.Instances))
			}
			for _, in := range res.Instances {
				b, err := os.ReadFile(filepath.Join(in.Dir, runtime.RunOutFile))
				if err != nil {
					t.Fatal(err)
				}
				events, err := runtime.ReadEvents(strings.NewReader(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				types := []string{}
				for _, e := range events {
					types = append(types, e.Event.Type())
				}
				if len(types) < 3 || types[0] != runtime.TypeStart || types[len(types)-1] != runtime.TypeSuccess {
					t.Fatalf("instance %d events %v", in.Index, types)
				}
				if !strings.Contains(string(b), `"message":"hi from instance`) {
					t.Fatalf("instance %d: parameter not passed: %s", in.Index, b)
				}
				if events[0].RunID != res.RunID || events[0].Event.StartEvent.Runenv.TestInstanceCount != 3 {
					t.Fatalf("start event %+v", events[0])
				}
			}
			r2, _, err := report.Read(res.Dir, "")
			if err != nil {
				t.Fatal(err)
			}
			if r2.Outcome != "success" || r2.Metrics["value"].Count != 3 || r2.Metrics["value"].Max != 2 || r2.Metrics["ok"].Mean != 1 {
				t.Fatalf("results %+v", r2)
			}
			svg, err := os.ReadFile(filepath.Join(res.Dir, report.PlotFile))
			if err != nil || !strings.Contains(string(svg), "<polyline") {
				t.Fatalf("plot: %v %.200s", err, svg)
			}
		})
	}
}

func TestFailureNamesInstance(t *testing.T) {
	for _, tc := range []struct {
		name, kase, want string
	}{
		{"failure", "fail-one", "instance 1 (group single) failed: this instance was told to fail"},
		{"crash", "crash-one", "instance 2 (group single) crashed: this instance was told to crash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runPlan(t, runner.Config{Case: tc.kase, Runner: runner.Sim, Instances: 3})
			if !errors.Is(err, runner.ErrRunFailed) || res.Err == nil {
				t.Fatalf("run error %v, want ErrRunFailed", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "1 of 3 instances") {
				t.Fatalf("error %q does not name the instance (%q)", err, tc.want)
			}
			r, _, err := report.Read(res.Dir, "")
			if err != nil || r.Outcome != "failure" || len(r.Failed) != 1 {
				t.Fatalf("results: %v %+v", err, r)
			}
		})
	}
}

func TestKill(t *testing.T) {
	for _, r := range []string{runner.Sim, runner.LocalExec} {
		t.Run(r, func(t *testing.T) {
			cfg := runner.Config{Case: "kill", Runner: r, Instances: 3}
			if r == runner.LocalExec {
				cfg.Binary = binary(t)
			}
			res, err := runPlan(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(res.Instances[0].Dir, runtime.RunOutFile))
			want := `partition: \u003cnil\u003e`
			if r == runner.LocalExec {
				want = "not supported by this runner"
			}
			if !strings.Contains(string(b), want) {
				t.Fatalf("instance 0 run.out lacks %q:\n%s", want, b)
			}
		})
	}
}

func TestCompositionGroups(t *testing.T) {
	comp, err := manifest.ParseComposition([]byte(`
[global]
plan = "testplan"
case = "ok"
total_instances = 4
  [global.run.test_params]
  word = "global"
[[groups]]
id = "a"
instances = { count = 1 }
  [groups.run.test_params]
  word = "group-a"
[[groups]]
id = "b"
instances = { percentage = 0.75 }
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{Case: comp.Global.Case, Runner: runner.Sim, GlobalParams: comp.Global.Run.TestParams}
	for _, g := range comp.Groups {
		cfg.Groups = append(cfg.Groups, runner.GroupSpec{ID: g.ID, Instances: g.Instances.Count, Params: g.Run.TestParams})
	}
	res, err := runPlan(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	words := map[string]string{}
	for _, in := range res.Instances {
		b, _ := os.ReadFile(filepath.Join(in.Dir, runtime.RunOutFile))
		for _, w := range []string{"group-a", "global"} {
			if strings.Contains(string(b), `"message":"`+w+` from`) {
				words[in.Group] = w
			}
		}
		if filepath.Base(filepath.Dir(in.Dir)) != in.Group {
			t.Fatalf("instance %d outputs in %s, not under its group", in.Index, in.Dir)
		}
	}
	if words["a"] != "group-a" || words["b"] != "global" || len(res.Instances) != 4 {
		t.Fatalf("params by group %v, %d instances", words, len(res.Instances))
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  runner.Config
		want string
	}{
		{runner.Config{Case: "nope", Runner: runner.Sim}, `no test case "nope"`},
		{runner.Config{Case: "ok", Runner: "local:k8s"}, "unknown runner"},
		{runner.Config{Case: "ok", Runner: runner.Sim, Instances: 1000}, "not 1000"},
		{runner.Config{Case: "ok", Runner: runner.Sim, Params: map[string]string{"wrod": "x"}}, `no parameter "wrod"`},
	} {
		tc.cfg.Plan = plan(t)
		tc.cfg.Outputs = t.TempDir()
		_, err := runner.Run(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg.Case, err, tc.want)
		}
	}
}

func TestJudge(t *testing.T) {
	dir := t.TempDir()
	line := func(ev string) string {
		return `{"ts":"2026-01-01T00:00:00Z","msg":"","group_id":"g","run_id":"r","event":` + ev + "}\n"
	}
	start := line(`{"start_event":{"runenv":{"plan":"p","case":"c","run":"r","instances":1}}}`)
	for _, tc := range []struct {
		name, content, outcome, errPart string
	}{
		{"success", start + "plain output line\n" + line(`{"success_event":{"group":"g"}}`), runner.OutcomeSuccess, ""},
		{"failure wins", start + line(`{"success_event":{"group":"g"}}`) + line(`{"failure_event":{"group":"g","error":"late"}}`), runner.OutcomeFailure, "late"},
		{"crash", start + line(`{"crash_event":{"group":"g","error":"boom","stacktrace":"..."}}`), runner.OutcomeCrash, "boom"},
		{"no outcome", start, runner.OutcomeIncomplete, "no success"},
		{"never started", "", runner.OutcomeIncomplete, "never started"},
		{"garbage", "{not json\n", runner.OutcomeIncomplete, "never started"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		o, e := runner.Judge(p)
		if o != tc.outcome || !strings.Contains(e, tc.errPart) {
			t.Errorf("%s: got %s %q, want %s %q", tc.name, o, e, tc.outcome, tc.errPart)
		}
	}
	if o, _ := runner.Judge(filepath.Join(dir, "missing")); o != runner.OutcomeIncomplete {
		t.Errorf("missing run.out: %s", o)
	}
}
