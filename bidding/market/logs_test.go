package market

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/exec"
)

// waitLogs waits until the requester keeps at least n lines of job.
func waitLogs(t *testing.T, m *Market, job cid.Cid, n int, timeout time.Duration) []LogLine {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		snap, _ := m.Logs(job.String(), 1)
		if len(snap.Lines) >= n {
			return snap.Lines
		}
		changed := snap.Changed
		if changed == nil { // no log yet: poll the book's creation
			c := make(chan struct{})
			time.AfterFunc(20*time.Millisecond, func() { close(c) })
			changed = c
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%d lines after %s, want %d: %+v", len(snap.Lines), timeout, n, snap.Lines)
		}
	}
}

// TestLiveLogsWhileRunning: what the program writes reaches the requester
// while it still runs, in order, stdout and stderr apart.
func TestLiveLogsWhileRunning(t *testing.T) {
	var req *testPeer
	var id cid.Cid
	submitted := make(chan struct{}) // id and req are set
	seen := make(chan []LogLine, 1)
	runner := &testRunner{engines: []string{exec.EngineWASM}, run: func(ctx context.Context, tk *exec.Task) (*exec.Result, error) {
		fmt.Fprint(tk.StdoutTap, "one\ntw")
		fmt.Fprint(tk.StdoutTap, "o\n")
		fmt.Fprint(tk.StderrTap, "oops\n")
		// The run goes on until the requester has the lines.
		<-submitted
		seen <- waitLogs(t, req.m, id, 3, time.Minute)
		fmt.Fprint(tk.StdoutTap, "three") // no newline: ended by the stream's end
		return &exec.Result{Stdout: []byte("one\ntwo\nthree"), Stderr: []byte("oops\n")}, nil
	}}
	req = newTestPeer(t, &testRunner{}, nil)
	ex := newTestPeer(t, runner, nil)
	connect(t, req.h, ex.h)
	waitTopic(t, req.m, 1)
	var err error
	id, _, err = req.m.Submit(context.Background(), testJobSpec("live"))
	if err != nil {
		t.Fatal(err)
	}
	close(submitted)
	var live []LogLine
	select {
	case live = <-seen:
	case <-time.After(2 * time.Minute):
		t.Fatal("the run never saw its lines at the requester")
	}
	if got := lineTexts(live); got != "stdout:one stdout:two stderr:oops" {
		t.Fatalf("live lines %q", got)
	}
	j := waitJob(t, req.m, id, time.Minute)
	if j.State != Completed {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	// The executor closes its log stream before it sends the receipt.
	all := waitLogs(t, req.m, id, 4, time.Minute)
	if got := lineTexts(all); got != "stdout:one stdout:two stderr:oops stdout:three" {
		t.Fatalf("lines %q", got)
	}
	for i, l := range all {
		if l.Seq != int64(i+1) || l.Executor != ex.h.ID().String() {
			t.Fatalf("line %d: %+v", i, l)
		}
	}
	// The phases of the award were recorded with their start times.
	var phases []string
	for _, p := range j.Awards[len(j.Awards)-1].Phases {
		phases = append(phases, p.Phase)
	}
	if got := strings.Join(phases, " "); !strings.Contains(got, "accepted fetching running publishing") {
		t.Errorf("phases %q", got)
	}
}

func lineTexts(ls []LogLine) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Stream+":"+l.Line)
	}
	return strings.Join(out, " ")
}

// TestLiveLogsHostile: the requester takes a job's logs only from the
// executor of its current award, signed by the stream's peer, one award
// per stream, within the size bound; anything else resets the stream and
// records nothing.
func TestLiveLogsHostile(t *testing.T) {
	hang := newHangingRunner(t)
	req := newTestPeer(t, &testRunner{}, nil)
	ex := newTestPeer(t, hang, nil)
	t.Cleanup(func() { close(hang.hang.release) })
	connect(t, req.h, ex.h)
	waitTopic(t, req.m, 1)
	id, _, err := req.m.Submit(context.Background(), testJobSpec("hostile-logs"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-hang.hang.started:
	case <-time.After(time.Minute):
		t.Fatal("the job never started")
	}
	j, _ := req.m.Jobs().Get(id.String())
	award, err := bidding.ParseAwardID(j.Awards[len(j.Awards)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	other, otherKey := newTestHost(t)
	connect(t, other, req.h)
	logOf := func(signer peer.ID, award bidding.AwardID, seq int64, text string) *bidding.Log {
		return &bidding.Log{Version: bidding.WireVersion, AwardID: award, JobCID: id, Executor: signer, Seq: seq,
			Stream: bidding.LogStdout, Data: []byte(text), Time: time.Now()}
	}
	sealed := func(key crypto.PrivKey, l *bidding.Log) []byte {
		b, err := bidding.Seal(key, l)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// refused writes frames on a new stream from h and wants it reset.
	refused := func(t *testing.T, h host.Host, frames ...[]byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := h.NewStream(ctx, req.h.ID(), bidding.ProtocolLogs)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, f := range frames {
			if err := bidding.WriteMsg(s, f); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = s.Read(make([]byte, 1))
		if err == nil || err == io.EOF || strings.Contains(err.Error(), "deadline") {
			t.Fatalf("stream not reset: %v", err)
		}
	}
	exKey := ex.key
	oversized := make([]byte, bidding.MaxMessageSize+1)
	copy(oversized, sealed(exKey, logOf(ex.h.ID(), award, 1, "padded\n")))
	unknownAward := bidding.NewAwardID()
	for _, c := range []struct {
		name   string
		h      host.Host
		frames [][]byte
	}{
		{"not the awarded executor", other, [][]byte{sealed(otherKey, logOf(other.ID(), award, 1, "forged\n"))}},
		{"signed by the executor, sent by another peer", other, [][]byte{sealed(exKey, logOf(ex.h.ID(), award, 1, "replayed\n"))}},
		{"sent by the executor, signed by another peer", ex.h, [][]byte{sealed(otherKey, logOf(other.ID(), award, 1, "smuggled\n"))}},
		{"the executor, another award", ex.h, [][]byte{sealed(exKey, logOf(ex.h.ID(), unknownAward, 1, "stale\n"))}},
		{"oversized frame", ex.h, [][]byte{oversized}},
		{"two awards on one stream", ex.h, [][]byte{sealed(exKey, logOf(ex.h.ID(), award, 1, "valid ")), sealed(exKey, logOf(ex.h.ID(), unknownAward, 2, "mixed\n"))}},
		{"sequence going back", ex.h, [][]byte{sealed(exKey, logOf(ex.h.ID(), award, 5, "valid ")), sealed(exKey, logOf(ex.h.ID(), award, 5, "again\n"))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			refused(t, c.h, c.frames...)
		})
	}
	// Only the valid first Logs of the last two streams were taken (their
	// incomplete line ended with the stream).
	if got := lineTexts(waitLogs(t, req.m, id, 2, time.Minute)); got != "stdout:valid  stdout:valid " {
		t.Fatalf("hostile logs recorded: %q", got)
	}
	// The control: the awarded executor's own stream is taken.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := ex.h.NewStream(ctx, req.h.ID(), bidding.ProtocolLogs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := bidding.WriteMsg(s, sealed(exKey, logOf(ex.h.ID(), award, 1, "genuine\n"))); err != nil {
		t.Fatal(err)
	}
	if got := lineTexts(waitLogs(t, req.m, id, 3, time.Minute)); got != "stdout:valid  stdout:valid  stdout:genuine" {
		t.Fatalf("lines %q", got)
	}
}

// TestLogTapNeverBlocks: a tap nobody drains takes any amount without
// waiting, keeps bidding.LogBuffer and counts the rest for the marker.
func TestLogTapNeverBlocks(t *testing.T) {
	l := newLogTap()
	w := l.writer(0)
	line := []byte(strings.Repeat("x", 99) + "\n")
	const total = 20 << 20
	for n := 0; n < total; n += len(line) {
		if k, err := w.Write(line); k != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
	}
	l.close()
	var kept, dropped int64
	ctx := context.Background()
	for {
		c, ok := l.next(ctx)
		if !ok {
			break
		}
		if len(c.data) > bidding.MaxLogData {
			t.Fatalf("chunk of %d bytes", len(c.data))
		}
		kept += int64(len(c.data))
		dropped += c.dropped
	}
	written := int64(total+len(line)-1) / int64(len(line)) * int64(len(line))
	if kept != bidding.LogBuffer || kept+dropped != written {
		t.Fatalf("kept %d (buffer %d), dropped %d, written %d", kept, bidding.LogBuffer, dropped, written)
	}
}
