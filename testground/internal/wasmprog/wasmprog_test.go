package wasmprog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/wasm"
	"github.com/shoalnet/shoal/testground/internal/wasmprog"
)

func TestModuleRuns(t *testing.T) {
	ctx := context.Background()
	x, err := wasm.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, tc := range []struct {
		name  string
		sleep time.Duration
		msg   string
	}{
		{"no sleep", 0, "ok\n"},
		{"sleep", 150 * time.Millisecond, "slept\n"},
		{"long message", 0, strings.Repeat("x", 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod := wasmprog.Module(tc.sleep, tc.msg)
			start := time.Now()
			res, err := x.Run(ctx, &exec.Task{ID: "t", WASM: &exec.WASMSpec{Module: mod}, OutputsDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if res.ExitCode != 0 || string(res.Stdout) != tc.msg {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q", res.ExitCode, res.Stdout, res.Stderr, tc.msg)
			}
			if took < tc.sleep {
				t.Fatalf("run took %s, less than the %s sleep", took, tc.sleep)
			}
		})
	}
}
