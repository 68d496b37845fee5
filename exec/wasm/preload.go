package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoalnet/shoal/exec/internal/capture"
)

// Preloading the recent modules into new workers.
//
// After a restart a worker finds a module's machine code in the disk cache,
// but wazero still decodes and validates every function of the module
// before it looks there: about 33 ms of the Go-built hello, against 3.4 ms
// for a warm run. So the executor keeps the bytes of the last modules its
// workers compiled (WithPreload), and each worker it starts compiles them
// from the disk cache before it takes its first task: the first job after
// a daemon restart runs warm when it comes after the workers are up.

const (
	// DefaultPreloadModules is how many recent modules a new worker
	// compiles before its first task.
	DefaultPreloadModules = 4
	// maxPreloadBytes bounds the module bytes kept for preloading.
	maxPreloadBytes = 256 << 20
	// maxUsed bounds the digests an executor remembers having marked.
	maxUsed = 4096
)

// WithPreload keeps the bytes of the last n modules the workers compiled in
// dir (created if missing), and makes every new worker compile them before
// it takes a task (with WithCacheDir, from the machine code on disk). n <= 0
// means DefaultPreloadModules. Only with WithWorkers. The node passes
// $REPO/wasm-recent.
func WithPreload(dir string, n int) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("wasm: empty preload directory")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("wasm: preload directory: %w", err)
		}
		if n <= 0 {
			n = DefaultPreloadModules
		}
		c.preloadDir, c.preloadN = dir, n
		return nil
	}
}

// remember keeps code (of digest) for preloading, or marks it used again,
// once per module and executor: the kept modules are the last used since
// their executors started, whether a task or a preload compiled them.
// Then the oldest past the bounds are removed. Errors are logged only: a
// module not kept is compiled by its first task, as without preloading.
func (e *Executor) remember(digest [32]byte, code []byte) {
	dir := e.cfg.preloadDir
	if dir == "" {
		return
	}
	e.usedMu.Lock()
	seen := e.used[digest]
	if !seen {
		if e.used == nil || len(e.used) >= maxUsed {
			e.used = map[[32]byte]bool{}
		}
		e.used[digest] = true
	}
	e.usedMu.Unlock()
	if seen {
		return
	}
	name := filepath.Join(dir, hex.EncodeToString(digest[:])+".wasm")
	now := time.Now()
	if err := os.Chtimes(name, now, now); err != nil {
		tmp := name + ".tmp"
		if err := os.WriteFile(tmp, code, 0o600); err != nil {
			e.log.Warn("cannot keep a module for preloading", "err", err)
			return
		}
		if err := os.Rename(tmp, name); err != nil {
			_ = os.Remove(tmp)
			e.log.Warn("cannot keep a module for preloading", "err", err)
			return
		}
	}
	kept := e.recent()
	total := int64(0)
	for i, f := range kept {
		total += f.size
		if i >= e.cfg.preloadN || total > maxPreloadBytes {
			_ = os.Remove(f.path)
		}
	}
}

type recentModule struct {
	path   string
	digest [32]byte
	size   int64
	used   time.Time
}

// recent lists the kept modules, the last used first.
func (e *Executor) recent() []recentModule {
	ents, err := os.ReadDir(e.cfg.preloadDir)
	if err != nil {
		return nil
	}
	var out []recentModule
	for _, d := range ents {
		if strings.HasSuffix(d.Name(), ".wasm.tmp") {
			// A write a crash cut short (remember renames its own at once).
			if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
				_ = os.Remove(filepath.Join(e.cfg.preloadDir, d.Name()))
			}
			continue
		}
		hexName, ok := strings.CutSuffix(d.Name(), ".wasm")
		b, err := hex.DecodeString(hexName)
		if !ok || err != nil || len(b) != sha256.Size || !d.Type().IsRegular() {
			continue
		}
		info, err := d.Info()
		if err != nil {
			continue
		}
		m := recentModule{path: filepath.Join(e.cfg.preloadDir, d.Name()), size: info.Size(), used: info.ModTime()}
		copy(m.digest[:], b)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b recentModule) int { return b.used.Compare(a.used) })
	return out
}

// preload compiles the kept modules in w, a worker not yet given out. A
// module above the module bound, or whose bytes no longer match its name,
// is removed. It returns an error only when the worker died or ctx ended
// (the caller then retires w).
func (e *Executor) preload(ctx context.Context, w *worker) error {
	mods := e.recent()
	if len(mods) > e.cfg.preloadN {
		mods = mods[:e.cfg.preloadN]
	}
	for _, m := range mods {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if m.size > e.cfg.maxModuleBytes {
			_ = os.Remove(m.path)
			continue
		}
		code, err := os.ReadFile(m.path)
		if err != nil || int64(len(code)) > e.cfg.maxModuleBytes || sha256.Sum256(code) != m.digest {
			_ = os.Remove(m.path)
			continue
		}
		stop := context.AfterFunc(ctx, w.stop)
		rm, _, err := e.converse(w, &taskMsg{ID: "preload", Digest: m.digest, CompileOnly: true}, code, nil, capture.New(0), capture.New(0))
		if !stop() {
			return context.Cause(ctx)
		}
		if err != nil {
			return fmt.Errorf("preload %s: %w", m.path, err)
		}
		e.count(w, rm)
		if rm.Compiled || rm.Hit {
			e.stats.preloaded.Add(1)
		}
		if err := kindError(rm.Kind, rm.Error); err != nil {
			// Compiled, but its tasks name another entrypoint than _start.
			e.log.Debug("preload", "module", m.path, "err", err)
		}
	}
	return nil
}
