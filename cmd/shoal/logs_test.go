package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// arrived is a line of a command's output and when the test read it.
type arrived struct {
	at   time.Time
	line string
}

// followLines runs `shoal args...` on d and returns its stdout lines with
// their arrival times, once it exited.
func followLines(t *testing.T, d *testnet.Daemon, args ...string) []arrived {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := d.Command(ctx, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []arrived
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, arrived{time.Now(), sc.Text()})
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return lines
}

// submitDetached starts a job with `shoal run wasm --detach` and returns its ID.
func submitDetached(t *testing.T, d *testnet.Daemon, module, name, label string, args ...string) string {
	t.Helper()
	out, err := d.Run(append([]string{"run", "wasm", module, "--detach", "--name", name, "--label", label, "--"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// TestJobLogsFollow: `shoal job logs --follow` on a job printing a line
// every 200 ms for 2 s shows the first line before the job completed, all
// lines in order, and exits when the job ends; on the finished job it
// prints the stored stream.
func TestJobLogsFollow(t *testing.T) {
	ds := jobNet(t, 2, nil, []string{"role=runner"})
	a := ds[0]
	ticker := testnet.WasmModule(t, "internal/testnet/wasm/ticker")
	id := submitDetached(t, a, ticker, "ticker", "role=runner", "200ms", "2s")
	lines := followLines(t, a, "job", "logs", "--follow", id)

	j, err := a.Client.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 {
		t.Fatalf("job %s (%s), %d receipts", j.State, j.Error, len(j.Receipts))
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.line)
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("tick %d", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("followed lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rc := j.Receipts[0]
	if rc.Executor != ds[1].ID {
		t.Fatalf("ran on %s, want %s", rc.Executor, ds[1].ID)
	}
	first, last := lines[0].at, lines[len(lines)-1].at
	t.Logf("first line after the run started: %s; last line %s after the first; receipt finished %s after the first line",
		first.Sub(rc.Started).Round(time.Millisecond), last.Sub(first).Round(time.Millisecond), rc.Finished.Sub(first).Round(time.Millisecond))
	if !first.Before(rc.Finished) {
		t.Fatalf("first line read at %s, the job finished at %s: not live", first.Format(time.StampMilli), rc.Finished.Format(time.StampMilli))
	}
	// The ticks span 1.8 s: lines that came in one burst at the end were
	// not streamed.
	if last.Sub(first) < time.Second {
		t.Fatalf("lines spread over %s only: they came at the end, not as printed", last.Sub(first))
	}
	// The award's phases were recorded in order, with their times.
	var phases []string
	for _, p := range j.Awards[len(j.Awards)-1].Phases {
		phases = append(phases, p.Phase)
	}
	if s := strings.Join(phases, " "); !strings.Contains(s, "accepted fetching running publishing completed") {
		t.Fatalf("phases %q", s)
	}
	desc, err := a.Run("job", "describe", id)
	if err != nil || !strings.Contains(desc, "queued") || !strings.Contains(desc, "running ") {
		t.Fatalf("describe (%v) shows no phases:\n%s", err, desc)
	}

	// Finished: the stored streams.
	stored := followLines(t, a, "job", "logs", id)
	if len(stored) != 10 || stored[9].line != "tick 9" {
		t.Fatalf("stored stdout: %+v", stored)
	}
	errLines, err := a.Run("job", "logs", "--stderr", id)
	if err != nil || strings.TrimSpace(errLines) != "ticker done" {
		t.Fatalf("stored stderr %q (%v)", errLines, err)
	}
}

// TestJobLogsFlood: a job writing 100 MiB to stdout stalls neither its
// executor nor its requester (the APIs answer and another job completes
// meanwhile), and its live log is cut at the documented bound with a
// marker line; the receipt still has the stream up to the output cap.
func TestJobLogsFlood(t *testing.T) {
	ds := jobNet(t, 2, nil, []string{"role=runner"})
	a, b := ds[0], ds[1]
	flood := testnet.WasmModule(t, "internal/testnet/wasm/flood")
	ticker := testnet.WasmModule(t, "internal/testnet/wasm/ticker")
	id := submitDetached(t, a, flood, "flood", "role=runner", "100")

	type followed struct {
		lines []api.LogLine
		end   *api.LogEnd
		err   error
	}
	done := make(chan followed, 1)
	flooding := make(chan struct{})
	go func() {
		var f followed
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		f.end, f.err = a.Client.Logs(ctx, id, api.LogOptions{Follow: true, Stream: "all"}, func(l api.LogLine) {
			if len(f.lines) == 0 {
				close(flooding)
			}
			f.lines = append(f.lines, l)
		})
		done <- f
	}()
	select {
	case <-flooding:
	case f := <-done:
		t.Fatalf("the follow ended before any line: %+v", f)
	}
	// Meanwhile: both APIs answer, and another job runs to completion on
	// the flooding executor.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, d := range []*testnet.Daemon{a, b} {
		t0 := time.Now()
		if _, err := d.Client.Jobs(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s answered in %s during the flood", d.ID, time.Since(t0).Round(time.Millisecond))
	}
	other, err := runJSON(t, a, "run", "wasm", ticker, "--name", "beside-the-flood", "--label", "role=runner", "--", "10ms", "50ms")
	if err != nil || other.State != api.JobCompleted {
		t.Fatalf("the other job: %v (%+v)", err, other)
	}

	f := <-done
	if f.err != nil {
		t.Fatal(f.err)
	}
	if f.end == nil || f.end.State != api.JobCompleted {
		t.Fatalf("flood job ended %+v", f.end)
	}
	var live, dropped int64
	markers := 0
	for i, l := range f.lines {
		switch {
		case l.Dropped > 0:
			markers++
			dropped += l.Dropped
			if l.Line != bidding.DroppedMarker(l.Dropped) {
				t.Fatalf("marker line %q", l.Line)
			}
		case l.Stream == "stdout":
			live += int64(len(l.Line)) + 1
			if want := fmt.Sprintf("flood line %052d", i-markers); l.Line != want && markers == 0 {
				t.Fatalf("line %d = %q, want %q", i, l.Line, want)
			}
		}
	}
	t.Logf("live: %d lines, %d bytes of stdout, %d markers for %d bytes dropped", len(f.lines), live, markers, dropped)
	// The bound: what the executor's buffer holds plus what its rate let
	// through while the run lasted and drained, never the 100 MiB; the
	// engine reads at least its output cap, so the rest was dropped.
	j, err := a.Client.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rc := j.Receipts[0]
	t.Logf("the flood ran %s; the other job finished %s after it", rc.Finished.Sub(rc.Started).Round(time.Millisecond), other.Updated.Sub(rc.Finished).Round(time.Millisecond))
	bound := int64(bidding.LogBuffer) + int64(bidding.LogRate)*int64((rc.Finished.Sub(rc.Started)+bidding.LogDrain+time.Second)/time.Second)
	if markers == 0 || live > bound || live+dropped < exec.DefaultOutputCap {
		t.Fatalf("live %d bytes (bound %d), %d markers, %d dropped: want the stream cut at the bound with a marker", live, bound, markers, dropped)
	}
	if f.lines[len(f.lines)-1].Stream != "stderr" && !strings.Contains(fmt.Sprint(f.lines[len(f.lines)-3:]), "flood done") {
		t.Errorf("the stderr line after the flood is missing: %+v", f.lines[len(f.lines)-3:])
	}
	// The stored stream is the engine's cap of it.
	stored, err := a.Run("job", "logs", id)
	if err != nil || int64(len(stored)) != exec.DefaultOutputCap {
		t.Fatalf("stored stdout %d bytes (%v), want the %d-byte cap", len(stored), err, exec.DefaultOutputCap)
	}
}

// TestRunFailedShowsStderr: `shoal run` of a job that fails shows, also
// off a terminal, the last lines of its stderr and the reason.
func TestRunFailedShowsStderr(t *testing.T) {
	ds := jobNet(t, 1)
	ticker := testnet.WasmModule(t, "internal/testnet/wasm/ticker")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ds[0].Command(ctx, "run", "wasm", ticker, "--", "not-a-duration")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatalf("a failing job exited 0:\n%s", stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{"last lines of stderr", `ticker: time: invalid duration "not-a-duration"`, "exit code 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
}

// TestRunShowsLogsLiveOnTerminal: `shoal run` with its stderr on a
// terminal prints the job's stdout lines as the job prints them (to
// stdout) and its stderr to stderr.
func TestRunShowsLogsLiveOnTerminal(t *testing.T) {
	ds := jobNet(t, 2, nil, []string{"role=runner"})
	a := ds[0]
	ticker := testnet.WasmModule(t, "internal/testnet/wasm/ticker")
	ctrl, tty := openPTY(t)
	var term strings.Builder
	termDone := make(chan struct{})
	go func() {
		defer close(termDone)
		buf := make([]byte, 4096)
		for {
			n, err := ctrl.Read(buf)
			term.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := a.Command(ctx, "run", "wasm", ticker, "--name", "live-run", "--label", "role=runner", "--", "200ms", "2s")
	cmd.Stderr = tty
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []arrived
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, arrived{time.Now(), sc.Text()})
	}
	waitErr := cmd.Wait()
	tty.Close()
	ctrl.Close()
	<-termDone
	if waitErr != nil {
		t.Fatalf("shoal run: %v\n%s", waitErr, term.String())
	}
	if len(lines) != 10 || lines[0].line != "tick 0" || lines[9].line != "tick 9" {
		t.Fatalf("stdout lines %+v\nterminal:\n%s", lines, term.String())
	}
	if spread := lines[9].at.Sub(lines[0].at); spread < time.Second {
		t.Fatalf("stdout lines came within %s: not live", spread)
	}
	for _, want := range []string{"ticker done", "phases: ", "running "} {
		if !strings.Contains(term.String(), want) {
			t.Errorf("terminal lacks %q:\n%s", want, term.String())
		}
	}
}

// TestRunTrapHasItsCode: a module that traps fails its job with the code
// trap (not a bare exit code 134), its stderr's last lines showing the
// trap, on a real daemon; the job's record carries the code.
func TestRunTrapHasItsCode(t *testing.T) {
	ds := jobNet(t, 1)
	// exports _start, which executes `unreachable`
	trap := filepath.Join(t.TempDir(), "trap.wasm")
	if err := os.WriteFile(trap, []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
		0x03, 0x02, 0x01, 0x00,
		0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
	}, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ds[0].Command(ctx, "run", "wasm", trap)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("a trapping job exited 0:\n%s", stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{"trap", "unreachable"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	jobs, err := ds[0].Client.Jobs(ctx)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %+v, %v; want the one", jobs, err)
	}
	j, err := ds[0].Client.Job(ctx, jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.ErrorCode != string(bidding.CodeTrap) {
		t.Fatalf("job %s: error code %q (%s), want %q", j.ID, j.ErrorCode, j.Error, bidding.CodeTrap)
	}
}
