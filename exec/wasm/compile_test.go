package wasm_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/wasm"
)

// hugeModule has n functions, each of 1,000 i64 locals and 20,000 nested
// blocks left through one br_table, each block end then changing a local:
// the SSA form needs phis for the locals at every block, and wazero spends
// about 0.7 s of CPU on each function (230 KB). hugeModule(40), 9 MB, took
// 11.4 s to compile (no -race, 2 workers) and 240 MB of RSS.
func hugeModule(n int) []byte {
	const depth, locals = 20000, 1000
	body := cat([]byte{0x01}, uleb(locals), []byte{0x7e}) // (local i64 x200)
	for range depth {
		body = append(body, 0x02, 0x40) // block
	}
	body = append(body, 0x41, 0x00, 0x0e) // i32.const 0, br_table
	body = append(body, uleb(depth)...)
	for i := range depth {
		body = append(body, uleb(uint64(i))...)
	}
	body = append(body, uleb(0)...)
	for i := range depth {
		body = append(body, 0x0b, 0x42) // end, i64.const
		body = append(body, sleb(int64(i))...)
		body = append(body, 0x21) // local.set
		body = append(body, uleb(uint64(i%locals))...)
	}
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = body
	}
	return module(funcs(n), exportStart, code(bodies...))
}

// smallModule returns a module of its own (a distinct digest) that exits 0.
func smallModule(tag byte) []byte {
	return module(funcs(1), exportStart, code([]byte{0x00, 0x41, tag, 0x1a})) // i32.const tag, drop
}

// TestCompileUnderDeadline compiles a huge module with a task timeout of
// one second: Run returns ErrTimeout promptly instead of compiling to the
// end and then running.
func TestCompileUnderDeadline(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(t.TempDir()))
	huge := hugeModule(40)
	start := time.Now()
	res, err := x.Run(context.Background(), &exec.Task{ID: "huge", WASM: &exec.WASMSpec{Module: huge}, Timeout: time.Second})
	d := time.Since(start)
	t.Logf("a %d MB module under a 1 s timeout: %v after %s", len(huge)>>20, err, d)
	if !errors.Is(err, exec.ErrTimeout) || res == nil || res.ExitCode != -1 {
		t.Fatalf("Run = %+v, %v; want an empty Result and ErrTimeout", res, err)
	}
	if d > 30*time.Second {
		t.Errorf("Run took %s to stop a compilation under a 1 s timeout", d)
	}
}

// TestCompileNotSerialized holds the compilation of a huge module in
// progress and runs a small module meanwhile, on an executor with a disk
// cache: the small one compiles and runs before the huge one ends.
func TestCompileNotSerialized(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(t.TempDir()))
	huge := hugeModule(40)
	hugeDigest := sha256.Sum256(huge)
	started, release := make(chan struct{}), make(chan struct{})
	wasm.SetCompileHook(x, func(d [32]byte) {
		if d == hugeDigest {
			close(started)
			<-release
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}) // before Close, which waits for the compilation

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hugeDone := make(chan error, 1)
	go func() {
		_, err := x.Run(ctx, &exec.Task{ID: "huge", WASM: &exec.WASMSpec{Module: huge}})
		hugeDone <- err
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the huge module's compilation did not start")
	}

	smallDone := make(chan error, 1)
	go func() {
		res, err := x.Run(context.Background(), &exec.Task{ID: "small", WASM: &exec.WASMSpec{Module: smallModule(7)}})
		if err == nil && res.ExitCode != 0 {
			err = errors.New("exit " + string(res.Stderr))
		}
		smallDone <- err
	}()
	select {
	case err := <-smallDone:
		if err != nil {
			t.Fatalf("small module: %v", err)
		}
	case err := <-hugeDone:
		t.Fatalf("the huge module ended (%v) before the small one", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the small module waited for the huge module's compilation")
	}

	cancel() // the huge run stops waiting at once, its compilation with it
	close(release)
	select {
	case err := <-hugeDone:
		if !errors.Is(err, exec.ErrKilled) {
			t.Fatalf("huge module: %v, want ErrKilled", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the cancelled huge run did not return")
	}
}

func TestModuleSizeBound(t *testing.T) {
	x := newExecutor(t, wasm.WithMaxModuleBytes(1000))
	big := hugeModule(1)
	p := filepath.Join(t.TempDir(), "big.wasm")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []exec.WASMSpec{{Module: big}, {ModulePath: p}} {
		_, err := x.Run(context.Background(), &exec.Task{ID: "big", WASM: &spec})
		if !errors.Is(err, exec.ErrInvalidModule) || !strings.Contains(err.Error(), "more than this executor's bound of 1000 bytes") {
			t.Fatalf("Run of a %d-byte module = %v; want ErrInvalidModule naming the bound", len(big), err)
		}
	}
	if got := x.Stats().Compiles; got != 0 {
		t.Errorf("Compiles = %d, want 0: the module must be refused before compiling", got)
	}
	if res, err := x.Run(context.Background(), &exec.Task{ID: "small", WASM: &exec.WASMSpec{Module: smallModule(1)}}); err != nil || res.ExitCode != 0 {
		t.Fatalf("a small module: %+v, %v", res, err)
	}
}

// TestCompileCacheBounded fills a cache directory bounded to about two
// compiled modules with four: the oldest files go, the directory stays
// within its bound, and the newest module is still a disk hit.
func TestCompileCacheBounded(t *testing.T) {
	dir := t.TempDir()
	run := func(x *wasm.Executor, tag byte) {
		t.Helper()
		if res, err := x.Run(context.Background(), &exec.Task{ID: "m", WASM: &exec.WASMSpec{Module: smallModule(tag)}}); err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
	}
	x := newExecutor(t, wasm.WithCacheDir(dir))
	run(x, 1)
	one := dirBytes(t, dir)
	if one == 0 {
		t.Fatal("the cache directory is empty after a compilation")
	}
	x.Close()

	bound := one*2 + one/2
	y := newExecutor(t, wasm.WithCacheDir(dir), wasm.WithMaxCacheBytes(bound))
	for tag := byte(2); tag <= 5; tag++ {
		run(y, tag)
		if got := dirBytes(t, dir); got > bound {
			t.Fatalf("after module %d the cache holds %d bytes, bound %d", tag, got, bound)
		}
	}
	y.Close()
	z := newExecutor(t, wasm.WithCacheDir(dir), wasm.WithMaxCacheBytes(bound))
	run(z, 5)
	run(z, 1) // pruned long ago
	if got := z.Stats(); got.Compiles != 2 || got.DiskCacheHits != 1 {
		t.Errorf("Stats() = %+v, want 2 compiles of which 1 disk hit (the newest module)", got)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
