package exectest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// tapRecorder is a Task.StdoutTap/StderrTap that keeps what it receives
// and signals when it has seen a given string.
type tapRecorder struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func newTapRecorder(want string) *tapRecorder {
	return &tapRecorder{want: want, seen: make(chan struct{})}
}

func (r *tapRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	had := r.want != "" && strings.Contains(r.buf.String(), r.want)
	r.buf.Write(p)
	if !had && r.want != "" && strings.Contains(r.buf.String(), r.want) {
		close(r.seen)
	}
	return len(p), nil
}

func (r *tapRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// liveTap: the taps receive the streams while the program runs (a line
// written before the program blocks on its stdin reaches the tap before
// the program can exit), and in the end hold what the Result holds.
func (s *suite) liveTap(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		pr, pw := io.Pipe()
		tk := s.task(t, "echo", "live")
		tk.Stdin = pr
		out := newTapRecorder("arg[0]=live\n")
		tk.StdoutTap = out
		type ran struct {
			out string
			err error
		}
		done := make(chan ran, 1)
		go func() {
			res, err := s.x.Run(context.Background(), tk)
			r := ran{err: err}
			if res != nil {
				r.out = string(res.Stdout)
			}
			done <- r
		}()
		// The program waits for its stdin to end: only a live tap sees the
		// line before the pipe is closed.
		select {
		case <-out.seen:
		case r := <-done:
			t.Fatalf("Run returned before stdin ended (err %v, stdout %q)", r.err, r.out)
		case <-time.After(2 * time.Minute):
			t.Errorf("the tap did not see the first line while the program ran; tap holds %q", out.String())
		}
		_ = pw.Close()
		r := <-done
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
		if got := out.String(); got != r.out {
			t.Errorf("stdout tap = %q, Result.Stdout = %q", got, r.out)
		}
	})
	t.Run("both streams", func(t *testing.T) {
		tk := s.task(t, "lines", "50", "both")
		out, errs := newTapRecorder(""), newTapRecorder("")
		tk.StdoutTap, tk.StderrTap = out, errs
		res := s.run(t, tk)
		wantExit(t, res, 0)
		if out.String() != string(res.Stdout) || errs.String() != string(res.Stderr) {
			t.Errorf("taps (%d, %d bytes) differ from the Result (%d, %d bytes)", len(out.String()), len(errs.String()), len(res.Stdout), len(res.Stderr))
		}
		if !strings.HasPrefix(errs.String(), "err 0\nerr 1\n") || !strings.HasSuffix(out.String(), "line 49\n") {
			t.Errorf("stdout tap ends %q, stderr tap starts %q", out.String()[max(0, len(out.String())-20):], errs.String()[:min(20, len(errs.String()))])
		}
	})
}
