// Package testnet starts real `shoal` daemons as processes on loopback for
// multi-node tests: it builds the binary once per test process, initialises
// repos with the local profile, and waits for each daemon's readiness line.
package testnet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/shoal once per test process and returns its path. Set
// SHOAL_BIN to use a prebuilt binary.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("SHOAL_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "shoal-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "shoal")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/shoalnet/shoal/cmd/shoal")
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build shoal: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	liarOnce sync.Once
	liarPath string
	liarErr  error
)

// LiarBinary builds cmd/shoal with the shoal_liar tag once per test
// process: an executor that flips a byte of every run's outputs
// (bidding/market/tamper_liar.go), the one stand-in of the verification
// tests. Start a daemon on it with Options.Bin.
func LiarBinary(t testing.TB) string {
	t.Helper()
	liarOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoal-liar-")
		if err != nil {
			liarErr = err
			return
		}
		liarPath = filepath.Join(dir, "shoal")
		cmd := exec.Command("go", "build", "-tags", "shoal_liar", "-o", liarPath, "github.com/shoalnet/shoal/cmd/shoal")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			liarErr = fmt.Errorf("go build -tags shoal_liar shoal: %v\n%s", err, out)
		}
	})
	if liarErr != nil {
		t.Fatal(liarErr)
	}
	return liarPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Options configure a daemon.
type Options struct {
	// Bootstrap multiaddrs passed with --bootstrap.
	Bootstrap []string
	// InitArgs are extra `shoal init` flags.
	InitArgs []string
	// Repo reuses an existing repo instead of initialising a new one.
	Repo string
	// Env adds environment variables.
	Env []string
	// Configure edits the repo before the daemon starts (path of the repo).
	Configure func(repo string) error
	// Exec, when set, is a command prefix for the daemon and for Run (for
	// example ip netns exec NS, see internal/natlab). The daemon's API is
	// then reachable only through Run: Client would dial from outside.
	Exec []string
	// Bin is the shoal binary to run (default Binary; LiarBinary for a
	// lying executor).
	Bin string
}

// Daemon is a running `shoal daemon` process.
type Daemon struct {
	t      testing.TB
	Bin    string
	Repo   string
	ID     string
	Addrs  []string // swarm multiaddrs with /p2p/ID
	API    string
	Client *api.Client
	cmd    *exec.Cmd
	prefix []string
	done   chan struct{}
	mu     sync.Mutex
	log    bytes.Buffer
	env    []string
}

// Start initialises a repo (unless opts.Repo) and starts a daemon on it,
// returning once it printed "Daemon is ready". The daemon is stopped at the
// end of the test.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	bin := opts.Bin
	if bin == "" {
		bin = Binary(t)
	}
	repo := opts.Repo
	d := &Daemon{t: t, Bin: bin, env: opts.Env, prefix: opts.Exec}
	if repo == "" {
		repo = filepath.Join(t.TempDir(), "repo")
		args := append([]string{"init", "--profile", "local"}, opts.InitArgs...)
		d.Repo = repo
		if out, err := d.Run(args...); err != nil {
			t.Fatalf("shoal init: %v\n%s", err, out)
		}
	}
	d.Repo = repo
	if opts.Configure != nil {
		if err := opts.Configure(repo); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.start(opts.Bootstrap); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	return d
}

func (d *Daemon) start(bootstrap []string) error {
	args := []string{"--repo", d.Repo, "daemon"}
	for _, b := range bootstrap {
		args = append(args, "--bootstrap", b)
	}
	cmd := d.command(context.Background(), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = &lockedWriter{d: d}
	if err := cmd.Start(); err != nil {
		return err
	}
	d.cmd, d.done = cmd, make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			switch {
			case strings.HasPrefix(line, "peer ID: "):
				d.ID = strings.TrimPrefix(line, "peer ID: ")
			case strings.HasPrefix(line, "swarm listening on "):
				d.Addrs = append(d.Addrs, strings.TrimPrefix(line, "swarm listening on "))
			case strings.HasPrefix(line, "API server listening on "):
				d.API = strings.TrimPrefix(line, "API server listening on ")
			case line == "Daemon is ready" && !sent:
				sent = true
				ready <- nil
			}
		}
		if !sent {
			ready <- fmt.Errorf("daemon exited before it was ready")
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	select {
	case err := <-ready:
		if err != nil {
			<-d.done
			return fmt.Errorf("%w: %s", err, d.Log())
		}
	case <-time.After(60 * time.Second):
		d.Kill()
		return fmt.Errorf("daemon not ready after 60s: %s", d.Log())
	}
	c, err := api.ClientForRepo(d.Repo, "")
	if err != nil {
		return err
	}
	d.Client = c
	return nil
}

// command is the shoal binary with args, behind the Exec prefix if any.
func (d *Daemon) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, d.prefix...), d.Bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), d.env...)
	return cmd
}

type lockedWriter struct{ d *Daemon }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.log.Write(p)
}

// Log is what the daemon printed so far (stdout and stderr).
func (d *Daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// TCPAddr is the daemon's TCP swarm multiaddr (for bootstrapping others).
func (d *Daemon) TCPAddr() string {
	for _, a := range d.Addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	return ""
}

// Run runs a CLI command against this daemon's repo and returns its stdout;
// on failure the error includes stderr.
func (d *Daemon) Run(args ...string) (string, error) {
	return d.RunContext(context.Background(), nil, args...)
}

// RunContext is Run with a context and standard input.
func (d *Daemon) RunContext(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := d.command(ctx, append([]string{"--repo", d.Repo}, args...)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("shoal %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 10 s).
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.Kill()
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Daemon) Kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// Done is closed when the process exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// ExitCode is the process' exit code once Done.
func (d *Daemon) ExitCode() int { return d.cmd.ProcessState.ExitCode() }

// Restart stops the daemon and starts it again on the same repo.
func (d *Daemon) Restart(bootstrap []string) error {
	d.Stop()
	d.log.Reset()
	d.Addrs = nil
	return d.start(bootstrap)
}

// Network starts n daemons, the first one alone and the others bootstrapped
// to it, and waits until each is connected to all others.
func Network(t testing.TB, n int, opts Options) []*Daemon {
	t.Helper()
	first := Start(t, opts)
	ds := []*Daemon{first}
	o := opts
	o.Bootstrap = append(append([]string{}, opts.Bootstrap...), first.TCPAddr())
	for i := 1; i < n; i++ {
		ds = append(ds, Start(t, o))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range ds {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: n - 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("daemon %s did not see %d peers: %v", d.ID, n-1, err)
		}
	}
	return ds
}

// PID is the daemon's process ID.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// EditConfig returns a Configure function that edits the repo's config.
func EditConfig(edit func(*node.Config)) func(repo string) error {
	return func(repo string) error {
		path := filepath.Join(repo, node.ConfigFile)
		c, err := node.LoadConfig(path)
		if err != nil {
			return err
		}
		edit(c)
		return c.Save(path)
	}
}

// Command returns the CLI command args against this daemon's repo, not
// started, for a test that reads its output as it comes.
func (d *Daemon) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.Bin, append([]string{"--repo", d.Repo}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	return cmd
}
