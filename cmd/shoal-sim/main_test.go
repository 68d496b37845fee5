package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/testground/report"
	"github.com/shoalnet/shoal/testground/runner"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]float64{"1048576": 1 << 20, "100MiB": 100 << 20, "10MB/s": 10e6, "2 GiB": 2 << 30, "0": 0} {
		got, err := parseBandwidth(in)
		if err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "-1MB", ""} {
		if _, err := parseBandwidth(bad); err == nil {
			t.Errorf("parseBandwidth(%q) accepted", bad)
		}
	}
}

func TestRunConfig(t *testing.T) {
	var cfg runner.Config
	if err := applyRunConfig(&cfg, map[string]any{"latency": "5ms", "bandwidth": "1MiB", "timeout": "2m"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Latency != 5*time.Millisecond || cfg.Bandwidth != 1<<20 || cfg.Timeout != 2*time.Minute {
		t.Fatalf("config %+v", cfg)
	}
	if err := applyRunConfig(&cfg, map[string]any{"jitter": "1ms"}); err == nil {
		t.Fatal("unknown key accepted")
	}
	if err := applyRunConfig(&cfg, map[string]any{"nat": map[string]any{"site-a": "symmetric"}}); err != nil || cfg.NAT["site-a"] != "symmetric" {
		t.Fatalf("nat table: %v, config %v", err, cfg.NAT)
	}
	if err := applyRunConfig(&cfg, map[string]any{"nat": "symmetric"}); err == nil {
		t.Fatal("nat that is not a table accepted")
	}
}

// TestRunAndReport runs a small plan through the CLI, then reports it.
func TestRunAndReport(t *testing.T) {
	app := newApp()
	app.ExitErrHandler = func(*cli.Context, error) {}
	out := t.TempDir()
	args := []string{"shoal-sim", "run", "--plan", "placement", "--instances", "3", "--outputs", out, "--quiet",
		"--param", "jobs=3", "--param", "refresh_spread=100ms", "--param", "settle=100ms"}
	if err := app.RunContext(context.Background(), args); err != nil {
		t.Fatalf("run: %v", err)
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no run directory: %v", err)
	}
	id := entries[0].Name()
	r, _, err := report.Read(id, out)
	if err != nil || r.Outcome != "success" || r.Metrics["job_completed"].Count != 3 {
		t.Fatalf("results: %v %+v", err, r)
	}
	if _, err := os.Stat(filepath.Join(out, id, "sim.log")); err != nil {
		t.Fatal(err)
	}
	if err := app.RunContext(context.Background(), []string{"shoal-sim", "report", "--outputs", out, id}); err != nil {
		t.Fatalf("report: %v", err)
	}
	err = app.RunContext(context.Background(), []string{"shoal-sim", "run", "--plan", "nope", "--outputs", out})
	if err == nil || !strings.Contains(err.Error(), `no plan "nope"`) {
		t.Fatalf("unknown plan: %v", err)
	}
}

// TestCompositionNATExec runs testground/compositions/nat-exec.toml as
// make sim does: local:exec in a NAT topology of network namespaces. The
// job over the holder's data runs at the holder, the hole punch makes the
// requester↔holder connection direct, and less than 64 KiB cross the
// relay. It needs root, ip and nft, and is skipped without them.
func TestCompositionNATExec(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes in network namespaces: not in -short")
	}
	if why := natnet.Available(); why != "" {
		t.Skip("nat-exec.toml not run: " + why + " (run the tests as root)")
	}
	app := newApp()
	app.ExitErrHandler = func(*cli.Context, error) {}
	out := t.TempDir()
	// The bound covers building the plan first, minutes on a cold build
	// cache of a busy 2-core machine (a fresh clone's `make test` hit 4);
	// the composition's own timeout (3m) bounds the run.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := []string{"shoal-sim", "run", "--composition", "../../testground/compositions/nat-exec.toml", "--outputs", out}
	if !testing.Verbose() {
		args = append(args, "--quiet")
	}
	if err := app.RunContext(ctx, args); err != nil {
		t.Fatalf("run: %v", err)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") { // .bin holds the plan binary
			id = e.Name()
		}
	}
	r, _, err := report.Read(id, out)
	if err != nil || r.Outcome != "success" {
		t.Fatalf("results of run %q: %v %+v", id, err, r)
	}
	for name, want := range map[string]float64{"direct": 1, "placed_at_holder": 1} {
		if s := r.Metrics[name]; s.Count == 0 || s.Min != want {
			t.Errorf("metric %s = %+v, want every value %v", name, s, want)
		}
	}
	if s := r.Metrics["relay_kib"]; s.Count != 1 || s.Max >= 64 {
		t.Errorf("relay_kib = %+v, want one value under 64", s)
	}
	t.Logf("first direct connection %.0f ms after submission, relay reservations after %.1f s, %.1f KiB over the relay",
		r.Metrics["first_direct_ms"].Mean, r.Metrics["relayed_ms"].Max/1000, r.Metrics["relay_kib"].Max)
}
