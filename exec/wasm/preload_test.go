package wasm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/wasm"
)

// waitFor polls ok until it holds (a worker's preload has no event the
// executor exposes: its counters and files are what a test can wait on).
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPreloadAfterRestart: a module run by one executor's workers is
// compiled by the next executor's new workers before their first task, so
// that task finds it compiled; a kept module whose bytes were changed on
// disk is removed, never compiled under its old digest.
func TestPreloadAfterRestart(t *testing.T) {
	cache, recent := t.TempDir(), t.TempDir()
	opts := []wasm.Option{wasm.WithCacheDir(cache), wasm.WithPreload(recent, 2)}
	hello := example(t, "hello")
	code, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	tk := &exec.Task{ID: "preload", WASM: &exec.WASMSpec{Module: code}, Limits: exec.Limits{MemoryBytes: 64 << 20}}

	first := newPooled(t, 1, opts...)
	if res, err := first.Run(context.Background(), tk); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	first.Close()
	kept, _ := filepath.Glob(filepath.Join(recent, "*.wasm"))
	if len(kept) != 1 {
		t.Fatalf("%d modules kept for preloading, want 1: %v", len(kept), kept)
	}

	// A write a crash cut short, left a while ago: removed.
	stale := kept[0] + ".tmp"
	if err := os.WriteFile(stale, code[:100], 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	second := newPooled(t, 1, opts...)
	waitFor(t, "the new worker to preload the module", func() bool { return second.Stats().Preloaded == 1 })
	before := second.Stats()
	if before.Compiles != 1 || before.DiskCacheHits != 1 {
		t.Fatalf("preload stats %+v, want one compile from the disk cache", before)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the stale partial write %s is still there (%v)", stale, err)
	}
	if res, err := second.Run(context.Background(), tk); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if s := second.Stats(); s.Compiles != before.Compiles || s.CacheHits != before.CacheHits+1 {
		t.Fatalf("stats after the first task %+v (before %+v): the task compiled the module again", s, before)
	}
	second.Close()

	// The kept bytes changed: the file no longer matches its name.
	if err := os.WriteFile(kept[0], append(code, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	third := newPooled(t, 1, opts...)
	waitFor(t, "the mismatched module to be removed", func() bool { _, err := os.Stat(kept[0]); return os.IsNotExist(err) })
	if res, err := third.Run(context.Background(), tk); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if s := third.Stats(); s.Preloaded != 0 {
		t.Fatalf("stats %+v: a module was preloaded from bytes that do not match their digest", s)
	}
	third.Close()

	// The run kept the module again; an executor whose module bound it
	// passes removes it unread.
	if _, err := os.Stat(kept[0]); err != nil {
		t.Fatalf("the module is not kept again after its run: %v", err)
	}
	small := newPooled(t, 1, append(opts, wasm.WithMaxModuleBytes(int64(len(code)/2)))...)
	waitFor(t, "the module above the bound to be removed", func() bool { _, err := os.Stat(kept[0]); return os.IsNotExist(err) })
	if s := small.Stats(); s.Preloaded != 0 {
		t.Fatalf("stats %+v: a module above the bound was preloaded", s)
	}
}
