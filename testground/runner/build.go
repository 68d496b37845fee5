package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"
)

// BuildPlan builds the plan's standalone binary as a static linux binary
// (CGO off, so it runs FROM scratch too) into dir and returns its path.
// Go's build cache makes a rebuild of unchanged code a link step.
func BuildPlan(ctx context.Context, p *Plan, moduleDir, dir string) (string, error) {
	if p.Package == "" {
		return "", fmt.Errorf("runner: plan %s has no standalone package to build", p.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, p.Name))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goBin(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, p.Package)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("runner: go build %s: %w\n%s", p.Package, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// goBin finds the go command: in $GOROOT/bin when set, else in PATH.
func goBin() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// planBinary returns cfg.Binary or builds the plan into the run directory's
// parent (shared by runs: <outputs>/.bin).
func planBinary(ctx context.Context, rs *runState) (string, error) {
	if rs.cfg.Binary != "" {
		bin, err := filepath.Abs(rs.cfg.Binary)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("runner: plan binary: %w", err)
		}
		return bin, nil
	}
	start := time.Now()
	bin, err := BuildPlan(ctx, rs.plan, rs.cfg.ModuleDir, filepath.Join(filepath.Dir(rs.dir), ".bin"))
	if err != nil {
		return "", err
	}
	rs.logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin, nil
}
