// Package runtime is the instance side of Testground's contract: the run
// parameters an instance receives in its environment, its typed
// parameters, and the events (start, message, success, failure, crash) it
// writes as JSON lines to $TEST_OUTPUTS_PATH/run.out in Testground's
// format. Metrics go to $TEST_OUTPUTS_PATH/results.out, one JSON object a
// line, for the runner to aggregate.
//
// It depends on nothing of Shoal: plans written against it stay portable.
package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File names in an instance's outputs directory.
const (
	RunOutFile     = "run.out"
	ResultsOutFile = "results.out"
)

// RunEnv is one instance's view of its run. Its methods are safe for
// concurrent use.
type RunEnv struct {
	RunParams

	mu      sync.Mutex
	events  io.Writer
	results io.Writer
	echo    io.Writer
	closers []io.Closer
	hooks   []func(*Event)
	closed  bool
}

// Option configures NewRunEnv.
type Option func(*RunEnv)

// WithEcho also writes every event line to w (Testground echoes them to
// stdout; the in-process runner does not).
func WithEcho(w io.Writer) Option { return func(re *RunEnv) { re.echo = w } }

// NewRunEnv opens the instance's run.out and results.out in
// rp.TestOutputsPath (created if needed). Without an outputs path events
// go to stdout only.
func NewRunEnv(rp RunParams, opts ...Option) (*RunEnv, error) {
	re := &RunEnv{RunParams: rp}
	for _, o := range opts {
		o(re)
	}
	if rp.TestOutputsPath == "" {
		re.events, re.results = os.Stdout, io.Discard
		return re, nil
	}
	if err := os.MkdirAll(rp.TestOutputsPath, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: outputs path: %w", err)
	}
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(rp.TestOutputsPath, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	ev, err := open(RunOutFile)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	res, err := open(ResultsOutFile)
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("runtime: %w", err)
	}
	re.events, re.results = ev, res
	re.closers = []io.Closer{ev, res}
	if rp.TestTempPath != "" {
		if err := os.MkdirAll(rp.TestTempPath, 0o755); err != nil {
			re.Close()
			return nil, fmt.Errorf("runtime: temp path: %w", err)
		}
	}
	return re, nil
}

// CurrentRunEnv builds the RunEnv of this process from its environment.
func CurrentRunEnv(opts ...Option) (*RunEnv, error) {
	rp, err := ParseRunParams(os.Environ())
	if err != nil {
		return nil, err
	}
	return NewRunEnv(*rp, opts...)
}

// OnEvent registers f to be called with every event after it is written
// (the run package forwards them to the sync service).
func (re *RunEnv) OnEvent(f func(*Event)) {
	re.mu.Lock()
	re.hooks = append(re.hooks, f)
	re.mu.Unlock()
}

// Close closes run.out and results.out. Later events are dropped. It is
// safe to call twice.
func (re *RunEnv) Close() error {
	re.mu.Lock()
	defer re.mu.Unlock()
	if re.closed {
		return nil
	}
	re.closed = true
	var errs []error
	for _, c := range re.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// RecordStart records that the instance started.
func (re *RunEnv) RecordStart() {
	rp := re.RunParams
	re.record(&Event{StartEvent: &StartEvent{Runenv: &rp}})
}

// RecordMessage records an informational message (fmt.Sprintf format).
func (re *RunEnv) RecordMessage(format string, a ...any) {
	msg := format
	if len(a) > 0 {
		msg = fmt.Sprintf(format, a...)
	}
	re.record(&Event{MessageEvent: &MessageEvent{Message: msg}})
}

// RecordSuccess records that the instance succeeded.
func (re *RunEnv) RecordSuccess() {
	re.record(&Event{SuccessEvent: &SuccessEvent{TestGroupID: re.TestGroupID}})
}

// RecordFailure records that the instance failed with err.
func (re *RunEnv) RecordFailure(err error) {
	re.record(&Event{FailureEvent: &FailureEvent{TestGroupID: re.TestGroupID, Error: errString(err)}})
}

// RecordCrash records that the instance panicked with v; the stack is the
// caller's.
func (re *RunEnv) RecordCrash(v any) {
	re.record(&Event{CrashEvent: &CrashEvent{TestGroupID: re.TestGroupID, Error: fmt.Sprint(v), Stacktrace: string(debug.Stack())}})
}

func errString(err error) string {
	if err == nil {
		return "failure recorded without an error"
	}
	return err.Error()
}

func (re *RunEnv) record(e *Event) {
	line := EventLine{TS: time.Now().UTC(), Msg: "", GroupID: re.TestGroupID, RunID: re.TestRun, Event: e}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	b = append(b, '\n')
	re.mu.Lock()
	if !re.closed {
		_, _ = re.events.Write(b)
		if re.echo != nil {
			_, _ = re.echo.Write(b)
		}
	}
	hooks := append([]func(*Event){}, re.hooks...)
	re.mu.Unlock()
	for _, h := range hooks {
		h(e)
	}
}

// Metric is one line of results.out.
type Metric struct {
	TS    time.Time `json:"ts"`
	Name  string    `json:"name"`
	Value float64   `json:"value"`
}

// RecordPoint records one observation of the metric name (a latency in
// milliseconds, a 0/1 outcome, a count). The runner aggregates the points
// of every instance by name into results.json.
func (re *RunEnv) RecordPoint(name string, value float64) {
	b, err := json.Marshal(Metric{TS: time.Now().UTC(), Name: name, Value: value})
	if err != nil {
		return
	}
	re.mu.Lock()
	defer re.mu.Unlock()
	if !re.closed {
		_, _ = re.results.Write(append(b, '\n'))
	}
}

// IsParamSet reports whether the parameter was passed.
func (re *RunEnv) IsParamSet(name string) bool {
	_, ok := re.TestInstanceParams[name]
	return ok
}

// StringParam returns a parameter. Like Testground's, the typed getters
// panic when the parameter is missing or malformed (the runner fills every
// parameter the manifest declares, so this is a plan bug); the panic is
// recorded as a crash.
func (re *RunEnv) StringParam(name string) string {
	v, ok := re.TestInstanceParams[name]
	if !ok {
		panic(fmt.Errorf("parameter %q was not set (declare it in the plan's manifest.toml)", name))
	}
	return v
}

// IntParam returns an integer parameter.
func (re *RunEnv) IntParam(name string) int {
	s := re.StringParam(name)
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		panic(fmt.Errorf("parameter %s=%q is not an integer", name, s))
	}
	return v
}

// FloatParam returns a floating-point parameter.
func (re *RunEnv) FloatParam(name string) float64 {
	s := re.StringParam(name)
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		panic(fmt.Errorf("parameter %s=%q is not a number", name, s))
	}
	return v
}

// BooleanParam returns a boolean parameter ("true"/"false"); unset is false.
func (re *RunEnv) BooleanParam(name string) bool {
	s, ok := re.TestInstanceParams[name]
	if !ok {
		return false
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		panic(fmt.Errorf("parameter %s=%q is not a boolean", name, s))
	}
	return v
}

// DurationParam returns a duration parameter ("250ms", "2s").
func (re *RunEnv) DurationParam(name string) time.Duration {
	s := re.StringParam(name)
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		panic(fmt.Errorf("parameter %s=%q is not a duration", name, s))
	}
	return v
}
