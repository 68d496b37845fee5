package testnet

import (
	"os"
	"path/filepath"
	"testing"
)

// TinyHello is a complete WASI command module of 128 bytes that writes
// "hello\n" to stdout and exits 0, written out by hand:
//
//	(module
//	  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (data (i32.const 0) "\08\00\00\00\06\00\00\00hello\n") ;; iovec{8, 6} then the text
//	  (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
//
// Benchmarks use it to measure the job market rather than the start of a
// language runtime (examples/hello, built by Go, is 2.6 MB and spends ~6 ms
// in Go's runtime start).
var TinyHello = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
	// type section: 0 = (i32 i32 i32 i32) -> i32, 1 = () -> ()
	0x01, 0x0c, 0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00,
	// import section: wasi_snapshot_preview1.fd_write, func of type 0
	0x02, 0x23, 0x01,
	0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's', 'h', 'o', 't', '_', 'p', 'r', 'e', 'v', 'i', 'e', 'w', '1',
	0x08, 'f', 'd', '_', 'w', 'r', 'i', 't', 'e', 0x00, 0x00,
	// function section: one function of type 1
	0x03, 0x02, 0x01, 0x01,
	// memory section: one memory, min 1 page
	0x05, 0x03, 0x01, 0x00, 0x01,
	// export section: "memory" (memory 0), "_start" (func 1)
	0x07, 0x13, 0x02,
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
	0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x01,
	// code section: fd_write(1, 0, 1, 16); drop
	0x0a, 0x0f, 0x01, 0x0d, 0x00,
	0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x10, 0x10, 0x00, 0x1a, 0x0b,
	// data section: at 0, iovec {ptr 8, len 6} and "hello\n"
	0x0b, 0x14, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x0e,
	0x08, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o', '\n',
}

// TinyHelloModule writes TinyHello to a file of the test's and returns its
// path.
func TinyHelloModule(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny-hello.wasm")
	if err := os.WriteFile(p, TinyHello, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
