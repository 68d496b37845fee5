package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoalnet/shoal/bidding"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"
)

// State of a job on its requester (bidding.JobState).
type State = bidding.JobState

// Job states, re-exported for readers of this package.
const (
	Pending   = bidding.JobPending
	Bidding   = bidding.JobBidding
	Awarded   = bidding.JobAwarded
	Running   = bidding.JobRunning
	Completed = bidding.JobCompleted
	Failed    = bidding.JobFailed
	Cancelled = bidding.JobCancelled
)

// ErrJobNotFound is returned for an unknown job ID.
var ErrJobNotFound = errors.New("job not found")

// Event is one line of a job's log.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // state, bid, decline, award, status, receipt, error, announce
	State   State     `json:"state,omitempty"`
	Peer    string    `json:"peer,omitempty"`
	Message string    `json:"message"`
}

// BidInfo is a bid as the requester recorded it.
type BidInfo struct {
	Peer       string        `json:"peer"`
	LocalBytes int64         `json:"local_bytes"`
	TotalBytes int64         `json:"total_bytes"`
	FreeSlots  int           `json:"free_slots"`
	QueueDepth int           `json:"queue_depth"`
	EstStart   time.Duration `json:"est_start"`
	Received   time.Time     `json:"received"`
}

// DeclineInfo is a refusal with its stable code.
type DeclineInfo struct {
	Peer   string    `json:"peer"`
	Code   string    `json:"code"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// AwardInfo tracks one award of the job.
type AwardInfo struct {
	ID       string    `json:"id"`
	Executor string    `json:"executor"`
	State    string    `json:"state"` // offered, accepted, fetching, running, publishing, completed, failed, declined, lost
	Time     time.Time `json:"time"`
	// Accepted is when the executor accepted: the run's deadline is
	// Accepted + spec.timeout + PublishGrace.
	Accepted time.Time `json:"accepted,omitzero"`
	// ErrorCode is the stable code of Error (a decline, receipt or
	// requester outcome code of bidding); records written before it
	// existed have only Error, which starts with the code.
	ErrorCode bidding.Code `json:"error_code,omitempty"`
	Error     string       `json:"error,omitempty"`
	// Phases are the award's states since it was offered, each with the
	// time it began (the next one's start ends it) and its progress
	// (fetching: bytes local so far and in all).
	Phases []PhaseInfo `json:"phases,omitempty"`
}

// PhaseInfo is one state of an award and when it began.
type PhaseInfo struct {
	Phase string    `json:"phase"`
	Start time.Time `json:"start"`
	Done  int64     `json:"done,omitempty"`
	Total int64     `json:"total,omitempty"`
}

// maxPhases bounds an award's phase history (progress updates of one
// phase replace each other).
const maxPhases = 16

// notePhase records that the award is in state since now (or, for the
// state it is already in, its new progress).
func (a *AwardInfo) notePhase(state string, done, total int64, now time.Time) {
	if n := len(a.Phases); n > 0 && a.Phases[n-1].Phase == state {
		a.Phases[n-1].Done, a.Phases[n-1].Total = done, total
		return
	}
	if len(a.Phases) < maxPhases {
		a.Phases = append(a.Phases, PhaseInfo{Phase: state, Start: now, Done: done, Total: total})
	}
}

// ReceiptInfo summarises a verified receipt.
type ReceiptInfo struct {
	CID      string `json:"cid"`
	AwardID  string `json:"award_id"`
	Executor string `json:"executor"`
	ExitCode int    `json:"exit_code"`
	// ErrorCode is the receipt's error_code; Error is "<code>: <message>".
	ErrorCode bidding.Code `json:"error_code,omitempty"`
	Error     string       `json:"error,omitempty"`
	Outputs   string       `json:"outputs,omitempty"`
	Stdout    string       `json:"stdout,omitempty"`
	Stderr    string       `json:"stderr,omitempty"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
	// Late marks a receipt of a superseded award that arrived after the
	// requester gave up on it and did not settle the job (Job.Late).
	Late bool `json:"late,omitempty"`
	// Reused marks the receipt of an earlier run that the network held
	// (docs/protocol.md §9): the job completed without an execution.
	Reused bool `json:"reused,omitempty"`
	// Imports and Published are the receipt's remote inputs and publish
	// outcomes, with the sources and targets the spec names.
	Imports   []ImportInfo  `json:"imports,omitempty"`
	Published []PublishInfo `json:"published,omitempty"`
}

// ImportInfo is a remote input the executor imported.
type ImportInfo struct {
	Source       string    `json:"source"`
	Path         string    `json:"path"`
	CID          string    `json:"cid"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"last_modified,omitzero"`
	Reused       bool      `json:"reused,omitempty"`
}

// PublishInfo is the outcome of one publish target.
type PublishInfo struct {
	Target   string `json:"target"`
	Required bool   `json:"required,omitempty"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// Job is the requester's record of a job: the source of truth for its state.
type Job struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Type     string    `json:"type"`
	Engine   string    `json:"engine"`
	Count    int       `json:"count"`
	State    State     `json:"state"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Attempts int       `json:"attempts"`
	// NoReuse: this run reuses no receipt the network holds (submitted
	// with --no-reuse); kept so that a restart does not look one up.
	NoReuse bool `json:"no_reuse,omitempty"`
	// ErrorCode is the stable code of a failed or cancelled job's outcome
	// (bidding's requester outcome codes, or the receipt code that failed
	// it); Error is the human message. Records written before ErrorCode
	// existed have only Error.
	ErrorCode bidding.Code  `json:"error_code,omitempty"`
	Error     string        `json:"error,omitempty"`
	Bids      []BidInfo     `json:"bids,omitempty"`
	Declines  []DeclineInfo `json:"declines,omitempty"`
	Awards    []AwardInfo   `json:"awards,omitempty"`
	Receipts  []ReceiptInfo `json:"receipts,omitempty"`
	// Late are verified receipts of superseded awards that did not settle
	// the job: it was settled already, or they report a failure that
	// would have failed over (or the requester's own Cancel).
	Late []ReceiptInfo `json:"late_receipts,omitempty"`
	// Verification is the verdict on a verified job's receipts (spec
	// verify; nil until judged, and for other jobs).
	Verification *Verification `json:"verification,omitempty"`
	// Events is the job's log, oldest first: at most maxEvents, the first
	// and the latest. The store writes each event once under its own key
	// ("/e/<job ID>/<seq>") and the record without them; records written
	// before that carry them here (and still load).
	Events []Event `json:"events,omitempty"`
	// EventSeq is the number of events ever logged: the sequence number of
	// the next (events dropped by the bound count too).
	EventSeq int64 `json:"event_seq,omitempty"`
	// Parent is the ID of the partitioned job this job is a task of.
	Parent string `json:"parent,omitempty"`
	// Exclude are executors this run of the job is not awarded to (a
	// partitioned job's retry of a task that failed on them).
	Exclude []string `json:"exclude,omitempty"`
	// Partition is the record of a partitioned job: its tasks (ordinary
	// jobs of their own) and result (partition.go). The market runs no
	// loop for such a record; the node's partition runner drives it.
	Partition *PartitionInfo `json:"partition,omitempty"`
	// written is how many of the events (by sequence number) are in the
	// datastore: events from written on are new, to be written.
	written int64
}

// award returns the award with id, or nil.
func (j *Job) award(id string) *AwardInfo {
	for i := range j.Awards {
		if j.Awards[i].ID == id {
			return &j.Awards[i]
		}
	}
	return nil
}

// maxEvents bounds a job's event log: past it, the oldest but the first
// (the submission) are dropped, from memory and from the datastore, so a
// job that re-announces for hours keeps 500 events, not one per round.
const maxEvents = 500

// eventSeq returns the sequence number of j.Events[i]: the first event is
// 0, the others are the latest EventSeq-1 and before, contiguous.
func (j *Job) eventSeq(i int) int64 {
	if i == 0 {
		return 0
	}
	return j.EventSeq - int64(len(j.Events)-i)
}

func (j *Job) log(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	j.Events = append(j.Events, e)
	j.Updated = e.Time
}

// JobStore persists job records in a datastore and fans their events out to
// watchers. Jobs in flight are kept whole in memory; finished ones only in
// the datastore, each with a small summary record (for List) beside it, so
// memory does not grow with the number of jobs run.
//
// Locking: no datastore I/O runs under mu, the lock shared by all jobs.
// Writes of one job (its record and its summary) run under that job's own
// lock (locks), so they reach the datastore in the order of the updates,
// while other jobs' updates, Get, List and Watch go on. A record in live
// is never changed once published: Update works on a copy and swaps it in
// under mu after the write, so readers need only mu.
type JobStore struct {
	d   ds.Datastore // records, "/<job ID>"
	sum ds.Datastore // summaries, "/s/<job ID>"

	mu   sync.Mutex
	live map[string]*Job // jobs not finished: the whole record, read-only
	// recent are the last recentJobs jobs that finished, kept like live
	// ones: the reads that follow a job's end (the API's final event, the
	// client's Get, a late receipt) skip decoding the record and its
	// events from the datastore.
	recent      map[string]*Job
	recentOrder []string // oldest first
	watchers    map[string]map[chan Event]struct{}
	// all are the watchers of every job (WatchAll).
	all map[chan JobEvent]struct{}
	// observe, when set, sees each job as it was and as it is after a
	// Create (was nil) or an Update, under the store's lock: it must not
	// call the store (metrics).
	observe func(was, now *Job)
	locks   keyLocks // one per job, for its writes
}

// OpenJobStore opens the job records of d (the job namespace of the node's
// store) and loads the jobs in flight.
func OpenJobStore(ctx context.Context, d ds.Datastore) (*JobStore, error) {
	s := &JobStore{d: d, sum: namespace.Wrap(d, ds.NewKey("/s")), live: map[string]*Job{}, recent: map[string]*Job{}, watchers: map[string]map[chan Event]struct{}{}}
	sums, err := s.summaries(ctx)
	if err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		// A store written before summaries existed: make them.
		if sums, err = s.summarize(ctx); err != nil {
			return nil, err
		}
	}
	for _, x := range sums {
		if x.State.Terminal() {
			continue
		}
		j, err := s.read(ctx, x.ID)
		switch {
		case errors.Is(err, ErrJobNotFound):
			// Interrupted before its record was first written: the
			// submitter got no job ID.
			_ = s.sum.Delete(ctx, jobKey(x.ID))
			continue
		case err != nil:
			return nil, err
		}
		if j.State.Terminal() { // interrupted between record and summary
			if err := s.persist(ctx, j, nil, summaryAfter); err != nil {
				return nil, err
			}
			continue
		}
		s.live[j.ID] = j
	}
	return s, nil
}

// summaries lists the summary records.
func (s *JobStore) summaries(ctx context.Context) ([]*Job, error) {
	var out []*Job
	err := scanJobs(ctx, s.sum, func(key string, j *Job) error {
		out = append(out, j)
		return nil
	})
	return out, err
}

// summarize writes the summary of every record and returns them.
func (s *JobStore) summarize(ctx context.Context) ([]*Job, error) {
	var out []*Job
	err := scanJobs(ctx, s.d, func(key string, j *Job) error {
		x := summary(j)
		out = append(out, x)
		return s.putSummary(ctx, x)
	})
	return out, err
}

// scanJobs decodes every job record (or summary) of d: the keys of its
// top level ("/<job ID>"; summaries and events lie deeper). A Prefix
// through a namespace wrapper finds nothing on pebble, so d is listed
// whole.
func scanJobs(ctx context.Context, d ds.Datastore, fn func(key string, j *Job) error) error {
	res, err := d.Query(ctx, query.Query{})
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("list jobs: %w", r.Error)
		}
		if strings.Count(r.Key, "/") != 1 {
			continue
		}
		var j Job
		if err := json.Unmarshal(r.Value, &j); err != nil {
			return fmt.Errorf("job record %s is corrupt: %w", r.Key, err)
		}
		if err := fn(r.Key, &j); err != nil {
			return err
		}
	}
	return nil
}

func jobKey(id string) ds.Key { return ds.NewKey("/" + id) }

// summaryKey is the key of id's summary in the job namespace (sum's
// "/<id>").
func summaryKey(id string) ds.Key { return ds.NewKey("/s/" + id) }

// summary is j without its growing parts.
func summary(j *Job) *Job {
	return &Job{ID: j.ID, Name: j.Name, Type: j.Type, Engine: j.Engine, Count: j.Count, State: j.State,
		Created: j.Created, Updated: j.Updated, Attempts: j.Attempts, ErrorCode: j.ErrorCode, Error: j.Error, Parent: j.Parent}
}

// recentJobs bounds the finished jobs a store keeps in memory (their
// records are on disk; each is at most maxEvents events).
const recentJobs = 256

// keepLocked keeps j in memory while it is not finished, and among the
// recent ones once it is.
func (s *JobStore) keepLocked(j *Job) {
	if !j.State.Terminal() {
		s.live[j.ID] = j
		return
	}
	delete(s.live, j.ID)
	if _, ok := s.recent[j.ID]; !ok {
		s.recentOrder = append(s.recentOrder, j.ID)
	}
	s.recent[j.ID] = j
	for len(s.recentOrder) > recentJobs {
		delete(s.recent, s.recentOrder[0])
		s.recentOrder = s.recentOrder[1:]
	}
}

// load returns the whole record of id: from memory when in flight or
// recently finished (a published record, not to be changed; live is
// true), else from the datastore. Call it
// without mu.
func (s *JobStore) load(ctx context.Context, id string) (j *Job, live bool, err error) {
	s.mu.Lock()
	j, live = s.live[id]
	if !live {
		j, live = s.recent[id]
	}
	s.mu.Unlock()
	if live {
		return j, true, nil
	}
	j, err = s.read(ctx, id)
	return j, false, err
}

// copyJob returns a copy of j that shares nothing Update may change: its
// slices are copied (their elements hold no pointers).
func copyJob(j *Job) *Job {
	c := *j
	c.Bids = slices.Clone(j.Bids)
	c.Declines = slices.Clone(j.Declines)
	c.Awards = slices.Clone(j.Awards)
	for i := range c.Awards {
		c.Awards[i].Phases = slices.Clone(c.Awards[i].Phases)
	}
	c.Receipts = slices.Clone(j.Receipts)
	c.Late = slices.Clone(j.Late)
	c.Events = slices.Clone(j.Events)
	c.Exclude = slices.Clone(j.Exclude)
	c.Partition = j.Partition.Clone()
	return &c
}

func (s *JobStore) read(ctx context.Context, id string) (*Job, error) {
	if strings.ContainsAny(id, "/") || id == "" {
		return nil, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	b, err := s.d.Get(ctx, jobKey(id))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", id, err)
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("job record %s is corrupt: %w", id, err)
	}
	if len(j.Events) > 0 {
		// A record written before events had keys of their own: its
		// events are in it, and none under keys yet.
		j.EventSeq = max(j.EventSeq, int64(len(j.Events)))
		return &j, nil
	}
	if err := s.readEvents(ctx, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// readEvents reads j's events from their keys: the first and the latest
// up to maxEvents, as Update left them. Update writes new events before
// the record that counts them and deletes dropped ones after it, so a
// crash leaves extra keys (never read; overwritten by the next events),
// never missing ones; one missing all the same (a damaged store) is
// skipped rather than failing the job.
func (s *JobStore) readEvents(ctx context.Context, j *Job) error {
	j.written = j.EventSeq
	if j.EventSeq == 0 {
		return nil
	}
	from := max(1, j.EventSeq-(maxEvents-1))
	j.Events = make([]Event, 0, 1+j.EventSeq-from)
	get := func(seq int64) error {
		b, err := s.d.Get(ctx, eventKey(j.ID, seq))
		if errors.Is(err, ds.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read job %s event %d: %w", j.ID, seq, err)
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("job %s event %d is corrupt: %w", j.ID, seq, err)
		}
		j.Events = append(j.Events, e)
		return nil
	}
	if err := get(0); err != nil {
		return err
	}
	for seq := from; seq < j.EventSeq; seq++ {
		if err := get(seq); err != nil {
			return err
		}
	}
	return nil
}

// eventKey is the key of id's event seq, zero-padded so that keys sort in
// order.
func eventKey(id string, seq int64) ds.Key {
	return ds.RawKey(fmt.Sprintf("/e/%s/%012d", id, seq))
}

// Create stores a new job record durably (see Sync); it fails with
// ErrJobExists when one exists.
func (s *JobStore) Create(ctx context.Context, j *Job) error {
	if err := s.create(ctx, j); err != nil {
		return err
	}
	return s.Sync(ctx, j.ID)
}

// Sync makes every record written so far durable: on pebble it syncs the
// write-ahead log, which holds the writes of the whole node's store in
// order (so the spec block stored before the job record too). A job whose
// ID the API answered must survive a kill -9 of the daemon; without it
// go-ds-pebble (NoSync) leaves the last, partial WAL block in memory. The
// sync runs outside the store's lock so that concurrent submissions share
// one fsync (pebble's WAL writer groups waiting syncs).
func (s *JobStore) Sync(ctx context.Context, id string) error {
	if err := s.d.Sync(ctx, jobKey(id)); err != nil {
		return fmt.Errorf("sync job %s: %w", id, err)
	}
	return nil
}

func (s *JobStore) create(ctx context.Context, j *Job) error {
	defer s.locks.lock(j.ID)()
	if _, _, err := s.load(ctx, j.ID); err == nil {
		return fmt.Errorf("%w: %s", ErrJobExists, j.ID)
	} else if !errors.Is(err, ErrJobNotFound) {
		return err
	}
	// The caller keeps j; the store keeps its own copy.
	j = copyJob(j)
	j.EventSeq, j.written = int64(len(j.Events)), 0
	// The summary first: a job listed without a record is dropped when
	// the store opens; a record without a summary would be lost to List.
	if err := s.persist(ctx, j, nil, summaryFirst); err != nil {
		return err
	}
	s.mu.Lock()
	s.keepLocked(j)
	s.fanOutLocked(j, j.Events)
	s.mu.Unlock()
	if s.observe != nil {
		s.observe(nil, j)
	}
	return nil
}

// ErrJobExists is returned by Create for a known job ID.
var ErrJobExists = errors.New("job exists")

// Update applies fn to a copy of the job under the job's own lock,
// persists it, publishes it and notifies watchers of the events fn logged.
// Updates of one job are applied and written in the order they take its
// lock; updates of other jobs do not wait for the write.
func (s *JobStore) Update(ctx context.Context, id string, fn func(j *Job) error) error {
	defer s.locks.lock(id)()
	j, live, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if live {
		j = copyJob(j) // readers may hold the published record
	}
	before, was := len(j.Events), summary(j)
	var observed *Job
	if s.observe != nil {
		observed = &Job{State: j.State, Awards: j.Awards}
	}
	if err := fn(j); err != nil {
		return err
	}
	fresh := append([]Event(nil), j.Events[before:]...)
	j.EventSeq += int64(len(fresh))
	var dropped []int64 // written events the bound drops
	if n := len(j.Events) - maxEvents; n > 0 {
		for i := 1; i <= n; i++ {
			if seq := j.eventSeq(i); seq < j.written {
				dropped = append(dropped, seq)
			}
		}
		j.Events = append(j.Events[:1], j.Events[n+1:]...)
	}
	// The summary is rewritten when what List shows changed; while a job
	// is in flight List takes it from memory.
	sum := noSummary
	if summaryChanged(was, j) {
		sum = summaryAfter
	}
	if err := s.persist(ctx, j, dropped, sum); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepLocked(j)
	for ch := range s.watchers[id] {
		for _, e := range fresh {
			select {
			case ch <- e:
			default: // a slow watcher misses events; it re-reads the record
			}
		}
		if j.State.Terminal() {
			close(ch)
			delete(s.watchers[id], ch)
		}
	}
	if len(s.watchers[id]) == 0 {
		delete(s.watchers, id)
	}
	s.fanOutLocked(j, fresh)
	if s.observe != nil {
		s.observe(observed, j)
	}
	return nil
}

// Where persist writes a job's summary.
const (
	noSummary    = iota
	summaryFirst // before the record (Create)
	summaryAfter // after it (Update)
)

// persist writes j's events not written yet (from j.written on), each
// once under its own key, then its record without events, then deletes
// the keys of dropped events; with the summary before or after. On a
// datastore that batches (pebble) it is one atomic write; otherwise the
// writes run in that order, so a crash between them leaves keys of events
// the record does not count yet (overwritten by the next ones), never a
// record counting events that are not there. The caller holds j's lock
// (or is alone, in OpenJobStore), never mu.
func (s *JobStore) persist(ctx context.Context, j *Job, dropped []int64, sum int) error {
	rec := *j
	rec.Events = nil
	b, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	w := s.writer(ctx)
	if sum == summaryFirst {
		w.putJSON(summaryKey(j.ID), summary(j))
	}
	start := max(1, len(j.Events)-int(j.EventSeq-j.written))
	for i := range j.Events {
		if i > 0 && i < start {
			continue
		}
		if seq := j.eventSeq(i); seq >= j.written {
			w.putJSON(eventKey(j.ID, seq), &j.Events[i])
		}
	}
	w.put(jobKey(j.ID), b)
	for _, seq := range dropped {
		w.delete(eventKey(j.ID, seq))
	}
	if sum == summaryAfter {
		w.putJSON(summaryKey(j.ID), summary(j))
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("persist job %s: %w", j.ID, err)
	}
	j.written = j.EventSeq
	return nil
}

// writer collects a job's writes into a batch when the datastore has
// them, else applies each at once; the first error sticks.
type writer struct {
	ctx context.Context
	d   ds.Write
	b   ds.Batch
	err error
}

func (s *JobStore) writer(ctx context.Context) *writer {
	w := &writer{ctx: ctx, d: s.d}
	if bd, ok := s.d.(ds.Batching); ok {
		if b, err := bd.Batch(ctx); err == nil {
			w.b, w.d = b, b
		}
	}
	return w
}

func (w *writer) put(k ds.Key, v []byte) {
	if w.err == nil {
		w.err = w.d.Put(w.ctx, k, v)
	}
}

func (w *writer) putJSON(k ds.Key, v any) {
	if w.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	w.put(k, b)
}

func (w *writer) delete(k ds.Key) {
	if w.err == nil {
		w.err = w.d.Delete(w.ctx, k)
	}
}

func (w *writer) commit() error {
	if w.err == nil && w.b != nil {
		w.err = w.b.Commit(w.ctx)
	}
	return w.err
}

// summaryChanged reports whether j's summary differs from was in more than
// its Updated time (ID, type and engine never change), or j has finished
// (its summary is then final).
func summaryChanged(was, j *Job) bool {
	return j.State.Terminal() || j.State != was.State || j.Attempts != was.Attempts || j.Error != was.Error || j.ErrorCode != was.ErrorCode ||
		j.Name != was.Name || j.Count != was.Count || !j.Created.Equal(was.Created)
}

func (s *JobStore) putSummary(ctx context.Context, x *Job) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if err := s.d.Put(ctx, summaryKey(x.ID), b); err != nil {
		return fmt.Errorf("persist job %s: %w", x.ID, err)
	}
	return nil
}

// Get returns a copy of the job record. It waits for no write: a job
// being updated is returned as it was before.
func (s *JobStore) Get(id string) (*Job, error) {
	j, live, err := s.load(context.Background(), id)
	if err != nil {
		return nil, err
	}
	if !live {
		return j, nil // decoded for this call alone
	}
	return clone(j), nil
}

// List returns summaries of all jobs (no events, bids, awards or
// receipts), newest first. Finished jobs are read from the datastore,
// without the store's lock; jobs in flight are taken from memory after,
// so a job created or finished during the scan is shown as it is then.
func (s *JobStore) List() []*Job {
	out, err := s.summaries(context.Background())
	if err != nil {
		return nil
	}
	s.mu.Lock()
	seen := make(map[string]bool, len(out))
	for i, x := range out {
		seen[x.ID] = true
		if j, ok := s.live[x.ID]; ok {
			out[i] = summary(j)
		}
	}
	for id, j := range s.live {
		if !seen[id] { // created after the scan read its summary
			out = append(out, summary(j))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, k int) bool { return out[i].Created.After(out[k].Created) })
	return out
}

// Watch returns a channel of the job's events from now on, closed when the
// job reaches a terminal state (immediately if it already has) or cancel is
// called, and the current record. It holds the job's lock (not the
// store's) while it reads the record, so no update falls between the
// record and the first event.
func (s *JobStore) Watch(id string) (<-chan Event, *Job, func(), error) {
	unlock := s.locks.lock(id)
	defer unlock()
	j, _, err := s.load(context.Background(), id)
	if err != nil {
		return nil, nil, nil, err
	}
	ch := make(chan Event, 256)
	if j.State.Terminal() {
		close(ch)
		return ch, clone(j), func() {}, nil
	}
	s.mu.Lock()
	if s.watchers[id] == nil {
		s.watchers[id] = map[chan Event]struct{}{}
	}
	s.watchers[id][ch] = struct{}{}
	s.mu.Unlock()
	cancel := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[id][ch]; ok {
			delete(s.watchers[id], ch)
			close(ch)
			if len(s.watchers[id]) == 0 {
				delete(s.watchers, id)
			}
		}
	}
	return ch, clone(j), cancel, nil
}

// clone returns a copy of a published record for a caller to keep.
func clone(j *Job) *Job { return copyJob(j) }
