package plans_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/testground/plans"
	"github.com/shoalnet/shoal/testground/report"
	"github.com/shoalnet/shoal/testground/runner"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

// fast shortens the waits every plan has, for small networks.
var fast = map[string]string{"refresh_spread": "200ms", "settle": "300ms"}

func with(extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range fast {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// runPlan runs a plan and judges it from its instances' run.out events.
func runPlan(t *testing.T, name, r string, instances int, params map[string]string) *report.Results {
	t.Helper()
	p, err := plans.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{Plan: p, Runner: r, Instances: instances, Params: params, Outputs: t.TempDir(), Timeout: 3 * time.Minute, ModuleDir: "../.."}
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	res, err := runner.Run(context.Background(), cfg)
	if res == nil {
		t.Fatalf("%s not set up: %v", name, err)
	}
	for _, in := range res.Instances {
		f, ferr := os.Open(filepath.Join(in.Dir, runtime.RunOutFile))
		if ferr != nil {
			t.Fatalf("instance %d: %v", in.Index, ferr)
		}
		events, _ := runtime.ReadEvents(f)
		f.Close()
		if len(events) == 0 || events[0].Event.Type() != runtime.TypeStart {
			t.Errorf("instance %d: run.out does not begin with a start event", in.Index)
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r2, _, err := report.Read(res.Dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return r2
}

func metric(t *testing.T, r *report.Results, name string) report.Stats {
	t.Helper()
	s, ok := r.Metrics[name]
	if !ok {
		t.Fatalf("no metric %s in results (have %v)", name, keys(r.Metrics))
	}
	return s
}

func keys(m map[string]report.Stats) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPlacement(t *testing.T) {
	t.Parallel()
	// A 2 s bid window: under -race, with other tests running, a holder's bid
	// can come after the product's 250 ms; the scale runs measure that.
	r := runPlan(t, "placement", runner.Sim, 6, with(map[string]string{"jobs": "12", "requesters": "3", "concurrency": "1", "bid_window": "2s", "min_on_holder": "0.8"}))
	if s := metric(t, r, "job_completed"); s.Count != 12 || s.Mean != 1 {
		t.Fatalf("jobs completed: %+v", s)
	}
	if s := metric(t, r, "on_holder_fraction"); s.Mean < 0.8 {
		t.Fatalf("on holder %.2f", s.Mean)
	}
	if len(r.CDF["job_latency_ms"]) == 0 {
		t.Fatal("no latency CDF")
	}
}

func TestChurn(t *testing.T) {
	t.Parallel()
	r := runPlan(t, "churn", runner.Sim, 6, with(map[string]string{"jobs": "8", "job_time": "2s", "kill_after": "1s", "kill_fraction": "0.2"}))
	if s := metric(t, r, "job_completed"); s.Count != 8 || s.Mean != 1 {
		t.Fatalf("jobs completed: %+v", s)
	}
	if metric(t, r, "lost").Max != 0 || metric(t, r, "duplicated").Max != 0 {
		t.Fatal("lost or duplicated jobs")
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	r := runPlan(t, "discovery", runner.Sim, 6, with(map[string]string{"lookups": "2"}))
	if s := metric(t, r, "provider_found"); s.Mean != 1 {
		t.Fatalf("providers found: %+v", s)
	}
	if s := metric(t, r, "caps_found_fraction"); s.Mean != 1 {
		t.Fatalf("capability lookups: %+v", s)
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	r := runPlan(t, "throughput", runner.Sim, 5, with(map[string]string{"jobs": "20"}))
	if s := metric(t, r, "jobs_per_s"); s.Mean <= 0 {
		t.Fatalf("jobs/s %+v", s)
	}
	if s := metric(t, r, "ran_locally"); s.Max != 0 {
		t.Fatalf("remote_only jobs ran on their requester: %+v", s)
	}
}

func TestPartitionSim(t *testing.T) {
	t.Parallel()
	r := runPlan(t, "partition", runner.Sim, 4, with(nil))
	if s := metric(t, r, "executor_same_side"); s.Mean != 1 {
		t.Fatalf("jobs crossed the partition: %+v", s)
	}
	if s := metric(t, r, "heal_job_completed"); s.Mean != 1 {
		t.Fatalf("no job crossed after the heal: %+v", s)
	}
}

// TestPartitionDocker runs the partition plan in 4 containers on private
// Docker networks. Without a Docker Engine it is skipped, except in CI.
func TestPartitionDocker(t *testing.T) {
	if err := runner.DockerAvailable(context.Background()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("local:docker runner not tested: %v (set DOCKER_HOST, or CI=true to make this a failure)", err)
	}
	t.Parallel()
	r := runPlan(t, "partition", runner.LocalDocker, 4, with(map[string]string{"settle": "1s"}))
	if s := metric(t, r, "side_job_completed"); s.Count != 8 || s.Mean != 1 {
		t.Fatalf("side jobs %+v", s)
	}
	if s := metric(t, r, "executor_same_side"); s.Mean != 1 {
		t.Fatalf("jobs crossed the partition: %+v", s)
	}
	if s := metric(t, r, "heal_job_completed"); s.Mean != 1 {
		t.Fatalf("no job crossed after the heal: %+v", s)
	}
}

// TestFailingPlanNamesInstance: a plan whose requirement is not met fails
// the run, and the error names the instance.
func TestFailingPlanNamesInstance(t *testing.T) {
	t.Parallel()
	p, err := plans.Get("placement")
	if err != nil {
		t.Fatal(err)
	}
	params := with(map[string]string{"jobs": "2", "min_on_holder": "1.5"})
	res, err := runner.Run(context.Background(), runner.Config{Plan: p, Runner: runner.Sim, Instances: 3, Params: params, Outputs: t.TempDir(), Timeout: 2 * time.Minute})
	if !errors.Is(err, runner.ErrRunFailed) {
		t.Fatalf("run error %v, want ErrRunFailed", err)
	}
	if !strings.Contains(err.Error(), "instance 0 (group single) failed") || !strings.Contains(err.Error(), "below the 150.0% required") {
		t.Fatalf("error does not name the failing instance: %v", err)
	}
	if res.Instances[1].Outcome != runner.OutcomeSuccess || res.Instances[2].Outcome != runner.OutcomeSuccess {
		t.Fatalf("other instances: %+v", res.Instances)
	}
}

func TestPlansAreRegistered(t *testing.T) {
	for _, name := range []string{"placement", "churn", "discovery", "throughput", "partition", "nat"} {
		p, err := plans.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(name, "manifest.toml")); err != nil {
			t.Errorf("%s: manifest.toml not in the plan's directory: %v", name, err)
		}
		if !strings.HasSuffix(p.Package, "/"+name+"/cmd") {
			t.Errorf("%s: package %s", name, p.Package)
		}
	}
}
