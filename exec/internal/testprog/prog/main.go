// Command prog is the program the exec conformance suite runs on every
// engine. It is built for wasip1/wasm and for linux (static) by package
// testprog; each subcommand exercises one behaviour of an executor.
//
//	hello                   print a greeting
//	echo ARGS...            print each argument, the SHOAL_TEST_* variables and stdin
//	cat PATH...             copy files to stdout
//	ls DIR                  list a directory
//	write PATH CONTENT      write a file (exit 1 on failure)
//	exit N                  exit with status N
//	lines N [both]          print N numbered lines (to stderr too with "both")
//	spin                    loop forever
//	touchspin PATH          create PATH, then loop forever
//	sleep DURATION          sleep
//	alloc MIB               allocate MIB-sized chunks forever, keeping them
//	dial ADDR               dial TCP (exit 4 on failure)
//	forkbomb                spawn sleeping children until it fails (exit 3)
//	escape LINK TARGET      symlink LINK to TARGET, then read and write through it
//	fill PATH BYTES         write BYTES zero bytes to PATH (exit 1 on failure)
//	seekwrite PATH OFFSET   write one byte at OFFSET of PATH (exit 1 on failure)
//	truncate PATH SIZE      truncate PATH to SIZE bytes (exit 1 on failure)
//	tree DIR                write below DIR an executable file of 512 KiB (run.sh),
//	                        4 hard links to it (sub/l0..l3), a symlink s -> run.sh
//	                        and sub/deep/file (exit 1 on failure)
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: prog COMMAND [ARGS...]")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "hello":
		fmt.Println("hello from shoal")
	case "echo":
		echo(args)
	case "cat":
		for _, p := range args {
			b, err := os.ReadFile(p)
			if err != nil {
				fail(1, "cat: %v", err)
			}
			os.Stdout.Write(b)
		}
	case "ls":
		ents, err := os.ReadDir(args[0])
		if err != nil {
			fail(1, "ls: %v", err)
		}
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	case "write":
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fail(1, "write error: %v", err)
		}
		fmt.Println("wrote", args[0])
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "lines":
		lines(args)
	case "spin":
		spin()
	case "touchspin":
		if err := os.WriteFile(args[0], nil, 0o644); err != nil {
			fail(1, "write error: %v", err)
		}
		spin()
	case "sleep":
		d, err := time.ParseDuration(args[0])
		if err != nil {
			fail(2, "sleep: %v", err)
		}
		time.Sleep(d)
	case "alloc":
		alloc(args)
	case "dial":
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Println("dial error:", err)
			os.Exit(4)
		}
		c.Close()
		fmt.Println("connected to", args[0])
	case "forkbomb":
		forkbomb()
	case "escape":
		escape(args[0], args[1])
	case "fill", "seekwrite", "truncate":
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			fail(2, "%s: %v", os.Args[1], err)
		}
		if err := writeSize(os.Args[1], args[0], n); err != nil {
			fail(1, "write error: %v", err)
		}
	case "tree":
		if err := tree(args[0]); err != nil {
			fail(1, "tree: %v", err)
		}
	default:
		fail(2, "unknown command %q", os.Args[1])
	}
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(code)
}

func echo(args []string) {
	for i, a := range args {
		fmt.Printf("arg[%d]=%s\n", i, a)
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SHOAL_TEST_") {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	for _, kv := range env {
		fmt.Println("env:" + kv)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(1, "stdin: %v", err)
	}
	fmt.Printf("stdin:%s\n", in)
}

func lines(args []string) {
	n, _ := strconv.Atoi(args[0])
	both := len(args) > 1 && args[1] == "both"
	out := bufio.NewWriterSize(os.Stdout, 512) // many small writes
	for i := range n {
		fmt.Fprintf(out, "line %d\n", i)
		if both {
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
	}
	out.Flush()
}

func spin() {
	sum := 0
	for i := 0; ; i++ {
		sum += i
		if sum == -1 { // never true; keeps the loop from being optimised away
			fmt.Println(sum)
		}
	}
}

var hold [][]byte

func alloc(args []string) {
	mib, _ := strconv.Atoi(args[0])
	if mib <= 0 {
		mib = 1
	}
	for total := 0; ; total += mib {
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page so it is really used
		}
		hold = append(hold, b)
		if total%64 == 0 {
			fmt.Println("allocated MiB:", total)
		}
	}
}

func forkbomb() {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	for n := 0; n < 100000; n++ {
		// The children sleep; the container's removal kills them.
		if err := exec.Command(self, "sleep", "60s").Start(); err != nil {
			fmt.Printf("forked %d\nfork error: %v\n", n, err)
			os.Exit(3)
		}
	}
	fmt.Println("forked 100000 without error")
}

func escape(link, target string) {
	if err := os.Symlink(target, link); err != nil {
		fmt.Println("symlink error:", err)
	}
	if b, err := os.ReadFile(link); err != nil {
		fmt.Println("read error:", err)
	} else {
		fmt.Printf("read: %q\n", b)
	}
	if err := os.WriteFile(link, []byte("pwned"), 0o644); err != nil {
		fmt.Println("write error:", err)
	} else {
		fmt.Println("write: ok")
	}
}

// tree writes the tree of the "tree" command below dir.
func tree(dir string) error {
	run := dir + "/run.sh"
	if err := os.WriteFile(run, make([]byte, 512<<10), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(run, 0o755); err != nil { // whatever the umask
		return err
	}
	if err := os.MkdirAll(dir+"/sub/deep", 0o755); err != nil {
		return err
	}
	for i := range 4 {
		if err := os.Link(run, fmt.Sprintf("%s/sub/l%d", dir, i)); err != nil {
			return err
		}
	}
	if err := os.Symlink("run.sh", dir+"/s"); err != nil {
		return err
	}
	return os.WriteFile(dir+"/sub/deep/file", []byte("deep"), 0o644)
}

// writeSize makes PATH take n bytes: by writing them, by writing one byte
// at offset n, or by truncating.
func writeSize(how, p string, n int64) error {
	if how == "truncate" {
		return os.Truncate(p, n)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if how == "seekwrite" {
		if _, err := f.WriteAt([]byte{1}, n); err != nil {
			return err
		}
		return f.Close()
	}
	buf := make([]byte, 64<<10)
	for n > 0 {
		w, err := f.Write(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return err
		}
		n -= int64(w)
	}
	return f.Close()
}
