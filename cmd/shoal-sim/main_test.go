package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

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
