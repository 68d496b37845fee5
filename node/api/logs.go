package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
)

// Bounds of GET /jobs/{id}/logs.
const (
	// logSettle bounds how long a follower waits, once the job ended, for
	// the executors' log streams to close (they close before the receipt
	// is sent, and drain within bidding.LogDrain).
	logSettle = bidding.LogDrain + bidding.StreamTimeout
	// maxStoredLine splits a stored line longer than this.
	maxStoredLine = 64 << 10
)

// logStreams is the stream query of the logs route as a filter.
func logStreams(q string) (func(string) bool, error) {
	switch q {
	case "", bidding.LogStdout:
		return func(s string) bool { return s == bidding.LogStdout }, nil
	case bidding.LogStderr:
		return func(s string) bool { return s == bidding.LogStderr }, nil
	case "all":
		return func(string) bool { return true }, nil
	}
	return nil, BadRequest("stream=%q: one of stdout, stderr, all", q)
}

// jobLogs streams a job's output as NDJSON (JobLog lines): on a running
// job the live lines the requester received so far and, with follow, the
// following ones until the job ends; on a finished job (or one this node
// has no live logs of) the stored streams of its receipts. With follow, or
// on a finished job, the last line is the job's end.
func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) error {
	want, err := logStreams(r.URL.Query().Get("stream"))
	if err != nil {
		return err
	}
	follow := r.URL.Query().Get("follow") != "" && r.URL.Query().Get("follow") != "false" && r.URL.Query().Get("follow") != "0"
	id := r.PathValue("id")
	jobs := s.n.Market.Jobs()
	ch, j, cancel, err := jobs.Watch(id)
	if errors.Is(err, market.ErrJobNotFound) {
		return Errorf(http.StatusNotFound, CodeNotFound, "no job %s on this node", id)
	}
	if err != nil {
		return err
	}
	defer cancel()
	out := newNDJSON(w)
	ctx := r.Context()
	var seq int64 = 1
	sendLive := func(snap market.LogSnapshot) market.LogSnapshot {
		if snap.Evicted > 0 {
			out.send(JobLog{Line: &LogLine{Stream: "all", Line: fmt.Sprintf("[shoal: %d earlier lines no longer kept]", snap.Evicted)}})
		}
		for _, l := range snap.Lines {
			if want(l.Stream) {
				out.send(JobLog{Line: &LogLine{Seq: l.Seq, Time: l.Time, Stream: l.Stream, Line: l.Line, Dropped: l.Dropped, Executor: l.Executor}})
			}
		}
		seq = snap.Next
		return snap
	}
	if !j.State.Terminal() {
		if !follow {
			if snap, ok := s.n.Market.Logs(j.ID, seq); ok {
				sendLive(snap)
			}
			return nil
		}
		snap := sendLive(s.n.Market.FollowLogs(j.ID, seq))
		jobDone := ch // closed when the job reaches a terminal state
		var settle <-chan time.Time
	wait:
		for settle == nil || snap.Open > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-snap.Changed:
			case _, ok := <-jobDone:
				if !ok {
					jobDone, settle = nil, time.After(logSettle)
				}
			case <-settle:
				break wait // an executor that does not close its stream
			}
			snap = sendLive(s.n.Market.FollowLogs(j.ID, seq))
		}
		if j, err = jobs.Get(id); err != nil {
			return nil
		}
	}
	live := seq > 1 // lines were received live: the follower has them
	if !live {
		s.storedLogs(ctx, out, j, want)
	}
	if j.State.Terminal() {
		end := &LogEnd{State: JobState(j.State), Error: j.Error}
		for _, rc := range j.Receipts {
			end.ExitCode = rc.ExitCode
		}
		out.send(JobLog{End: end})
	}
	return nil
}

// storedLogs sends the stored streams of the job's receipts, line by line.
func (s *Server) storedLogs(ctx context.Context, out *ndjson, j *market.Job, want func(string) bool) {
	for _, rc := range j.Receipts {
		for _, st := range []struct{ name, cid string }{{bidding.LogStdout, rc.Stdout}, {bidding.LogStderr, rc.Stderr}} {
			if st.cid == "" || !want(st.name) {
				continue
			}
			c, err := content.ParseCID(st.cid)
			if err != nil {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			rd, err := s.n.Content.Cat(fctx, c)
			if err != nil {
				cancel()
				out.send(JobLog{Line: &LogLine{Stream: st.name, Line: "[shoal: stored " + st.name + " " + st.cid + " unavailable: " + err.Error() + "]", Executor: rc.Executor, Stored: true}})
				continue
			}
			sendLines(rd, func(line string) {
				out.send(JobLog{Line: &LogLine{Stream: st.name, Line: line, Executor: rc.Executor, Stored: true}})
			})
			rd.Close()
			cancel()
		}
	}
}

// sendLines calls fn with each line of r (without its newline), splitting
// lines longer than maxStoredLine.
func sendLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, maxStoredLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			fn(string(line))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
