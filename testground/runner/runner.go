// Package runner runs a plan's instances under one of three runners and
// judges the run from their run.out events:
//
//   - sim: every instance a goroutine of this process, each node on a host
//     of go-libp2p's in-memory mock network with shaped links;
//   - local:exec: every instance a process of the plan's standalone
//     binary, listening on its own loopback address 127.0.x.y, or, with
//     Config.NAT, in the network namespaces of a NAT topology (nat.go);
//   - local:docker: every instance a container (the binary FROM scratch)
//     on private Docker networks the runner creates and removes.
//
// The runner hosts the run's sync service (in-process for sim, a websocket
// for the others) and applies the instances' netctl requests (kill,
// partition, heal). A run succeeds only when every instance recorded
// success; otherwise the error names each instance that did not.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"time"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/report"
	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// Runner names.
const (
	Sim         = "sim"
	LocalExec   = "local:exec"
	LocalDocker = "local:docker"
)

// Defaults of Config.
const (
	DefaultOutputs = "testground/runs"
	DefaultTimeout = 10 * time.Minute
	// StopGrace is how long instances get to end after the timeout before
	// they are killed.
	StopGrace = 10 * time.Second
)

// ErrRunFailed is wrapped by the error of a run in which some instance did
// not succeed.
var ErrRunFailed = errors.New("run failed")

// Plan is a plan the runner can run.
type Plan struct {
	Name     string
	Manifest *manifest.Manifest
	// Cases run in-process under the sim runner.
	Cases run.TestCases
	// Package is the import path of the plan's standalone main package,
	// built for local:exec and local:docker.
	Package string
}

// GroupSpec is a group of instances with its own parameters.
type GroupSpec struct {
	ID        string
	Instances int
	Params    map[string]string
}

// Config describes one run.
type Config struct {
	Plan   *Plan
	Case   string // "" = the manifest's first case
	Runner string
	// Groups default to one group "single" of Instances.
	Groups    []GroupSpec
	Instances int
	// GlobalParams apply to every group (under the group's own), Params
	// over everything (the command line's --param).
	GlobalParams map[string]string
	Params       map[string]string
	// Outputs is the parent directory of run directories (DefaultOutputs).
	Outputs string
	RunID   string
	Timeout time.Duration
	// Latency and Bandwidth (bytes/s, 0 = unlimited) shape the sim
	// runner's links.
	Latency   time.Duration
	Bandwidth float64
	// NAT places groups behind NATs (local:exec only, as root): group ID
	// to NATPublic, NATEndpointIndependent or NATSymmetric; groups not
	// named are public. Empty: no NAT topology, every instance on
	// loopback. A composition sets it in [global.run_config.nat].
	NAT map[string]string
	// Binary is a prebuilt static plan binary for local:exec and
	// local:docker; empty means build Plan.Package with `go build`.
	Binary string
	// ModuleDir is where `go build` runs (the module root); default ".".
	ModuleDir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Instance is one instance of the run.
type Instance struct {
	Index     int
	Group     string
	GroupSize int
	Params    map[string]string
	Dir       string            // outputs directory: <run>/<group>/<index-in-group>
	Env       runtime.RunParams // the contract this instance receives
}

// InstanceResult is how an instance ended.
type InstanceResult struct {
	Index   int    `json:"index"`
	Group   string `json:"group"`
	Outcome string `json:"outcome"` // success, failure, crash, incomplete
	Error   string `json:"error,omitempty"`
	Dir     string `json:"dir"`
}

// Outcomes.
const (
	OutcomeSuccess    = "success"
	OutcomeFailure    = "failure"
	OutcomeCrash      = "crash"
	OutcomeIncomplete = "incomplete"
)

// Result is the outcome of a run.
type Result struct {
	RunID     string           `json:"run_id"`
	Dir       string           `json:"dir"`
	Plan      string           `json:"plan"`
	Case      string           `json:"case"`
	Runner    string           `json:"runner"`
	Groups    []GroupSpec      `json:"groups"`
	Started   time.Time        `json:"started"`
	Duration  time.Duration    `json:"duration"`
	Instances []InstanceResult `json:"instances"`
	// Err is nil when every instance succeeded; else it wraps ErrRunFailed
	// and names the instances.
	Err error `json:"-"`
}

// backend is one runner's way to run instances.
type backend interface {
	// start starts every instance; done is closed when all have ended.
	start(ctx context.Context, rs *runState) (done <-chan struct{}, err error)
	// stop asks the instances to end (after the timeout), then kills them.
	stop()
	// control applies a netctl request.
	control(ctx context.Context, req netctl.Request) error
	// close removes what the backend created.
	close() error
}

// runState is what backends share.
type runState struct {
	cfg       *Config
	plan      *Plan
	tc        *manifest.TestCase
	runID     string
	dir       string
	svc       *tgsync.Service
	scope     tgsync.Scope
	instances []*Instance
	start     time.Time
	log       *slog.Logger
	logw      io.Writer
}

func (rs *runState) logf(format string, a ...any) {
	fmt.Fprintf(rs.logw, "[%s] %s\n", time.Since(rs.start).Round(time.Millisecond), fmt.Sprintf(format, a...))
}

// NewRunID returns a sortable, unique run ID.
func NewRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Run runs the plan and returns its result. The error is non-nil when the
// run could not be set up; a run whose instances did not all succeed
// returns the Result with Err set (and that error).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	rs, err := prepare(&cfg)
	if err != nil {
		return nil, err
	}
	var be backend
	switch cfg.Runner {
	case Sim:
		be = &simBackend{}
	case LocalExec:
		be = &execBackend{}
	case LocalDocker:
		be = &dockerBackend{}
	}
	res := &Result{RunID: rs.runID, Dir: rs.dir, Plan: rs.plan.Name, Case: rs.tc.Name, Runner: cfg.Runner, Groups: cfg.Groups, Started: rs.start}
	rs.logf("run %s: plan %s, case %s, %d instances, runner %s, outputs %s", rs.runID, rs.plan.Name, rs.tc.Name, len(rs.instances), cfg.Runner, rs.dir)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer rs.svc.Close()
	defer func() {
		if err := be.close(); err != nil {
			rs.logf("cleanup: %v", err)
		}
	}()
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveControl(rctx, rs, be)
	}()
	done, err := be.start(rctx, rs)
	if err != nil {
		cancel()
		wg.Wait()
		return nil, err
	}
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	select {
	case <-done:
	case <-timeout.C:
		rs.logf("timeout after %s: stopping the instances", cfg.Timeout)
		stopAndWait(rs, be, done)
	case <-ctx.Done():
		rs.logf("interrupted: stopping the instances")
		stopAndWait(rs, be, done)
	}
	cancel()
	wg.Wait()
	res.Duration = time.Since(rs.start)
	res.Instances = judge(rs)
	var bad []string
	for _, ir := range res.Instances {
		if ir.Outcome != OutcomeSuccess {
			bad = append(bad, fmt.Sprintf("instance %d (group %s) %s: %s", ir.Index, ir.Group, verb(ir.Outcome), ir.Error))
		}
	}
	if len(bad) > 0 {
		res.Err = fmt.Errorf("%w: %d of %d instances did not succeed: %s", ErrRunFailed, len(bad), len(res.Instances), strings.Join(bad, "; "))
	}
	if err := writeJSON(filepath.Join(rs.dir, "run.json"), res); err != nil {
		return res, err
	}
	if err := writeReport(rs, res); err != nil {
		return res, err
	}
	rs.logf("run %s ended after %s: %s", rs.runID, res.Duration.Round(time.Millisecond), outcomeLine(res))
	return res, res.Err
}

// stopAndWait stops the instances and waits for them, but not forever: an
// in-process instance that ignores its context cannot be killed, and is
// judged (incomplete) without waiting for it.
func stopAndWait(rs *runState, be backend, done <-chan struct{}) {
	be.stop()
	select {
	case <-done:
	case <-time.After(StopGrace + 20*time.Second):
		rs.logf("some instances did not stop; judging the run without them")
	}
}

func verb(outcome string) string {
	switch outcome {
	case OutcomeFailure:
		return "failed"
	case OutcomeCrash:
		return "crashed"
	}
	return "ended without an outcome"
}

func outcomeLine(res *Result) string {
	if res.Err == nil {
		return fmt.Sprintf("success (%d/%d instances)", len(res.Instances), len(res.Instances))
	}
	return res.Err.Error()
}

// prepare resolves the configuration, creates the run directory and the
// instances.
func prepare(cfg *Config) (*runState, error) {
	if cfg.Plan == nil || cfg.Plan.Manifest == nil {
		return nil, errors.New("runner: no plan")
	}
	switch cfg.Runner {
	case Sim, LocalExec, LocalDocker:
	case "":
		cfg.Runner = Sim
	default:
		return nil, fmt.Errorf("runner: unknown runner %q (choose %s, %s or %s)", cfg.Runner, Sim, LocalExec, LocalDocker)
	}
	m := cfg.Plan.Manifest
	if !m.RunnerEnabled(cfg.Runner) {
		return nil, fmt.Errorf("runner: plan %s does not enable runner %s in its manifest", m.Name, cfg.Runner)
	}
	tc, err := m.Case(cfg.Case)
	if err != nil {
		return nil, err
	}
	if cfg.Runner == Sim && cfg.Plan.Cases[tc.Name] == nil {
		return nil, fmt.Errorf("runner: plan %s has no in-process code for case %s", m.Name, tc.Name)
	}
	if len(cfg.Groups) == 0 {
		n := cfg.Instances
		if n == 0 {
			n = tc.Instances.Default
		}
		cfg.Groups = []GroupSpec{{ID: "single", Instances: n}}
	}
	total := 0
	for _, g := range cfg.Groups {
		if g.Instances < 1 {
			return nil, fmt.Errorf("runner: group %s has no instances", g.ID)
		}
		total += g.Instances
	}
	if total < tc.Instances.Min || total > tc.Instances.Max {
		return nil, fmt.Errorf("runner: case %s runs %d to %d instances, not %d", tc.Name, tc.Instances.Min, tc.Instances.Max, total)
	}
	if err := checkNAT(cfg); err != nil {
		return nil, err
	}
	if cfg.Outputs == "" {
		cfg.Outputs = DefaultOutputs
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ModuleDir == "" {
		cfg.ModuleDir = "."
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	dir, err := filepath.Abs(filepath.Join(cfg.Outputs, cfg.RunID))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runner: outputs: %w", err)
	}
	rs := &runState{cfg: cfg, plan: cfg.Plan, tc: tc, runID: cfg.RunID, dir: dir, svc: tgsync.NewService(),
		scope: tgsync.Scope{Run: cfg.RunID, Plan: m.Name, Case: tc.Name}, start: time.Now(), logw: logw,
		log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	prefix := rs.scope.StateKey("")
	rs.svc.OnSignal(func(state string, n int64) {
		if int(n) == total && strings.HasPrefix(state, prefix) {
			rs.logf("all %d instances reached %q", total, strings.TrimPrefix(state, prefix))
		}
	})
	idx := 0
	for _, g := range cfg.Groups {
		params, err := tc.Resolve(cfg.GlobalParams, g.Params, cfg.Params)
		if err != nil {
			return nil, fmt.Errorf("runner: group %s: %w", g.ID, err)
		}
		for i := 0; i < g.Instances; i++ {
			in := &Instance{Index: idx, Group: g.ID, GroupSize: g.Instances, Params: params,
				Dir: filepath.Join(dir, g.ID, fmt.Sprint(i))}
			in.Env = runtime.RunParams{
				TestPlan: m.Name, TestCase: tc.Name, TestRun: cfg.RunID,
				TestInstanceCount: total, TestGroupID: g.ID, TestGroupInstanceCount: g.Instances,
				TestInstanceParams: params, TestOutputsPath: in.Dir, TestTempPath: filepath.Join(in.Dir, "tmp"),
				TestStartTime: rs.start, InstanceIndex: idx,
			}
			rs.instances = append(rs.instances, in)
			idx++
		}
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), map[string]any{
		"plan": m.Name, "case": tc.Name, "runner": cfg.Runner, "groups": cfg.Groups,
		"global_params": cfg.GlobalParams, "params": cfg.Params, "timeout": cfg.Timeout.String(),
		"latency": cfg.Latency.String(), "bandwidth": cfg.Bandwidth, "nat": cfg.NAT,
	}); err != nil {
		return nil, err
	}
	return rs, nil
}

// serveControl applies the instances' netctl requests in order.
func serveControl(ctx context.Context, rs *runState, be backend) {
	sub := rs.svc.Subscribe(ctx, rs.scope.TopicKey(netctl.Topic))
	for item := range sub.C {
		var req netctl.Request
		res := netctl.Result{}
		if err := json.Unmarshal(item, &req); err != nil {
			res.Error = fmt.Sprintf("bad request: %v", err)
		} else if err := req.Check(len(rs.instances)); err != nil {
			res.ID, res.Error = req.ID, err.Error()
		} else {
			res.ID = req.ID
			rs.logf("netctl %s %v%v", req.Op, req.Instances, req.Groups)
			if err := be.control(ctx, req); err != nil {
				res.Error = err.Error()
				rs.logf("netctl %s failed: %v", req.Op, err)
			}
		}
		b, _ := json.Marshal(res)
		_, _ = rs.svc.Publish(ctx, rs.scope.TopicKey(netctl.ResultTopic), b)
	}
}

// judge reads every instance's run.out.
func judge(rs *runState) []InstanceResult {
	out := make([]InstanceResult, 0, len(rs.instances))
	for _, in := range rs.instances {
		ir := InstanceResult{Index: in.Index, Group: in.Group, Dir: in.Dir}
		ir.Outcome, ir.Error = Judge(filepath.Join(in.Dir, runtime.RunOutFile))
		out = append(out, ir)
	}
	return out
}

// Judge returns an instance's outcome from its run.out: a crash or a
// failure event anywhere wins over success; no outcome event at all is
// "incomplete" (the instance was killed, timed out, or exited early).
func Judge(runOut string) (outcome, errMsg string) {
	f, err := os.Open(runOut)
	if err != nil {
		return OutcomeIncomplete, fmt.Sprintf("no run.out: %v", err)
	}
	defer f.Close()
	events, err := runtime.ReadEvents(f)
	if err != nil {
		return OutcomeIncomplete, err.Error()
	}
	outcome, errMsg = OutcomeIncomplete, "no success, failure or crash event (killed, timed out, or exited early)"
	started := false
	for _, l := range events {
		switch e := l.Event; {
		case e.StartEvent != nil:
			started = true
		case e.CrashEvent != nil:
			return OutcomeCrash, e.CrashEvent.Error
		case e.FailureEvent != nil:
			outcome, errMsg = OutcomeFailure, e.FailureEvent.Error
		case e.SuccessEvent != nil:
			if outcome != OutcomeFailure {
				outcome, errMsg = OutcomeSuccess, ""
			}
		}
	}
	if !started && outcome == OutcomeIncomplete {
		errMsg = "the instance never started"
	}
	return outcome, errMsg
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeReport aggregates the metrics into results.json and plot.svg.
func writeReport(rs *runState, res *Result) error {
	in := report.Results{RunID: res.RunID, Plan: res.Plan, Case: res.Case, Runner: res.Runner,
		Instances: len(res.Instances), Started: res.Started, DurationS: res.Duration.Seconds(), Outcome: "success"}
	if res.Err != nil {
		in.Outcome, in.Error = "failure", res.Err.Error()
	}
	for _, g := range res.Groups {
		in.Groups = append(in.Groups, report.Group{ID: g.ID, Instances: g.Instances})
	}
	if len(rs.instances) > 0 {
		in.Params = rs.instances[0].Params
	}
	var insts []report.Instance
	for _, ir := range res.Instances {
		insts = append(insts, report.Instance{Index: ir.Index, Group: ir.Group, Outcome: ir.Outcome, Error: ir.Error, Dir: ir.Dir})
	}
	out, err := report.Build(in, insts, rs.plan.Manifest.Report)
	if err != nil {
		return err
	}
	return report.Write(rs.dir, out)
}
