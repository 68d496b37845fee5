package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// execBackend runs every instance as a process of the plan binary on its
// own loopback address, or with Config.NAT in its group's namespace of a
// NAT topology.
type execBackend struct {
	rs    *runState
	nat   *natTopology // nil without Config.NAT
	srv   *http.Server
	mu    gosync.Mutex
	procs []*proc
}

type proc struct {
	cmd    *exec.Cmd
	exited atomic.Bool
}

// signal sends sig to the instance's process group unless it exited.
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited.Load() {
		return nil
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// LoopbackIP is the address of instance i under local:exec: 127.0.x.y
// with y in 2..251, skipping 127.0.0.1.
func LoopbackIP(i int) string {
	return fmt.Sprintf("127.0.%d.%d", i/250, 2+i%250)
}

func (b *execBackend) start(ctx context.Context, rs *runState) (<-chan struct{}, error) {
	b.rs = rs
	bin, err := planBinary(ctx, rs)
	if err != nil {
		return nil, err
	}
	// ip netns exec and the instance's working directory must not change
	// what a relative path names.
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	// syncEnv tells every instance where the sync service is.
	var syncEnv []string
	var l net.Listener
	if len(rs.cfg.NAT) > 0 {
		// Instances in network namespaces cannot reach the runner's
		// 127.0.0.1; they share its filesystem, so the service listens on
		// a Unix socket.
		if b.nat, err = buildNAT(rs.cfg); err != nil {
			return nil, err
		}
		rs.logf("local:exec: NAT topology %s: %s", b.nat.lab.Name, b.nat.describe())
		if l, err = net.Listen("unix", b.nat.socket()); err != nil {
			return nil, fmt.Errorf("local:exec: sync service: %w", err)
		}
		syncEnv = []string{runtime.EnvSyncServiceSocket + "=" + b.nat.socket()}
	} else {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("local:exec: sync service: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		syncEnv = []string{runtime.EnvSyncServiceHost + "=127.0.0.1", runtime.EnvSyncServicePort + "=" + strconv.Itoa(port)}
	}
	b.srv = &http.Server{Handler: tgsync.Handler(rs.svc, rs.log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(l) }()
	rs.logf("local:exec: sync service on %s", l.Addr())

	done := make(chan struct{})
	var wg gosync.WaitGroup
	for i, in := range rs.instances {
		env := in.Env
		env.TestSubnet = "127.0.0.0/8"
		env.ListenIP = LoopbackIP(i)
		var argv []string
		if b.nat != nil {
			p := b.nat.groups[in.Group]
			env.TestSubnet, env.ListenIP, env.NAT = p.subnet, p.ip, p.kind
			argv = natnet.Exec(p.ns)
		}
		if err := os.MkdirAll(env.TestTempPath, 0o755); err != nil {
			return nil, err
		}
		argv = append(argv, bin)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(baseEnv(env.TestTempPath), env.Env()...)
		cmd.Env = append(cmd.Env, syncEnv...)
		cmd.Dir = in.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stdout, err := os.Create(filepath.Join(in.Dir, "stdout.log"))
		if err != nil {
			return nil, err
		}
		stderr, err := os.Create(filepath.Join(in.Dir, "stderr.log"))
		if err != nil {
			stdout.Close()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			stdout.Close()
			stderr.Close()
			b.stop()
			return nil, fmt.Errorf("local:exec: start instance %d: %w", i, err)
		}
		pr := &proc{cmd: cmd}
		b.mu.Lock()
		b.procs = append(b.procs, pr)
		b.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cmd.Wait()
			pr.exited.Store(true)
			stdout.Close()
			stderr.Close()
		}()
	}
	rs.logf("local:exec: %d processes started", len(rs.instances))
	go func() {
		wg.Wait()
		close(done)
	}()
	return done, nil
}

// baseEnv is the environment every instance process gets besides the
// contract: nothing of the runner's own environment leaks in except PATH
// and HOME.
func baseEnv(tmp string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
}

func (b *execBackend) stop() {
	b.mu.Lock()
	procs := append([]*proc(nil), b.procs...)
	b.mu.Unlock()
	for _, p := range procs {
		_ = p.signal(syscall.SIGTERM)
	}
	time.AfterFunc(StopGrace, func() {
		for _, p := range procs {
			_ = p.signal(syscall.SIGKILL)
		}
	})
}

func (b *execBackend) control(ctx context.Context, req netctl.Request) error {
	switch req.Op {
	case netctl.OpKill:
		b.mu.Lock()
		defer b.mu.Unlock()
		var errs []error
		for _, i := range req.Instances {
			if i >= len(b.procs) {
				errs = append(errs, fmt.Errorf("instance %d has not started", i))
				continue
			}
			if err := b.procs[i].signal(syscall.SIGKILL); err != nil {
				errs = append(errs, fmt.Errorf("kill instance %d: %w", i, err))
			}
		}
		return errors.Join(errs...)
	default:
		return fmt.Errorf("%s: %w: processes share the loopback interface (use sim or local:docker)", req.Op, netctl.ErrUnsupported)
	}
}

func (b *execBackend) close() error {
	b.mu.Lock()
	for _, p := range b.procs {
		_ = p.signal(syscall.SIGKILL)
	}
	b.mu.Unlock()
	if b.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(ctx)
		_ = b.srv.Close()
	}
	if b.nat != nil {
		if err := b.nat.close(); err != nil {
			return fmt.Errorf("local:exec: removing the NAT topology: %w", err)
		}
	}
	return nil
}
