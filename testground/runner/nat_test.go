package runner_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/testground/runner"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

func TestNATRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  runner.Config
		want string
	}{
		{"not local:exec", runner.Config{Runner: runner.Sim, NAT: map[string]string{"single": runner.NATSymmetric}}, "only local:exec"},
		{"unknown group", runner.Config{Runner: runner.LocalExec, NAT: map[string]string{"nope": runner.NATSymmetric}}, `names group "nope"`},
		{"unknown NAT", runner.Config{Runner: runner.LocalExec, NAT: map[string]string{"single": "cone"}}, `has NAT "cone"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Case, tc.cfg.Instances, tc.cfg.Plan, tc.cfg.Outputs = "ok", 2, plan(t), t.TempDir()
			_, err := runner.Run(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if why := natnet.Available(); why != "" {
		cfg := runner.Config{Case: "ok", Runner: runner.LocalExec, Instances: 2, Plan: plan(t), Outputs: t.TempDir(), NAT: map[string]string{"single": runner.NATSymmetric}}
		_, err := runner.Run(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "run as root") {
			t.Fatalf("a NAT run where namespaces cannot be built: error %v, want it to say %q and what to do", err, why)
		}
	}
}

// TestNATTopology runs the test plan with one group public and one
// behind a symmetric NAT: each instance runs in its group's namespace with
// its address, reaches the sync service over the Unix socket, and the
// namespaces are gone after the run, also after one that timed out.
func TestNATTopology(t *testing.T) {
	if why := natnet.Available(); why != "" {
		t.Skip("local:exec NAT topology not tested: " + why)
	}
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"ok", 0}, {"timeout", time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runner.Config{Case: "ok", Runner: runner.LocalExec, Binary: binary(t), Timeout: tc.timeout,
				Groups: []runner.GroupSpec{{ID: "pub", Instances: 1}, {ID: "site", Instances: 2}},
				NAT:    map[string]string{"site": runner.NATSymmetric}}
			res, err := runPlan(t, cfg)
			if left := ourNamespaces(t); len(left) > 0 {
				t.Fatalf("namespaces left after the run: %v", left)
			}
			if tc.timeout > 0 {
				return // the run may or may not have ended in time; the namespaces are gone
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range res.Instances {
				b, _ := os.ReadFile(filepath.Join(in.Dir, runtime.RunOutFile))
				// The start event carries the instance's run parameters.
				want := []string{`"nat":"public"`, `"listen_ip":"100.64.0.1"`}
				if in.Group == "site" {
					want = []string{`"nat":"symmetric"`, `"listen_ip":"10.1.0.2"`}
				}
				for _, w := range want {
					if !strings.Contains(string(b), w) {
						t.Errorf("instance %d (group %s): run.out lacks %s:\n%s", in.Index, in.Group, w, b)
					}
				}
			}
		})
	}
}

// ourNamespaces lists the namespaces of this process' NAT topologies.
func ourNamespaces(t *testing.T) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], fmt.Sprintf("%s%dx", natnet.Prefix, os.Getpid())) {
			ours = append(ours, f[0])
		}
	}
	return ours
}
