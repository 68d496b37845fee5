package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Definition describes one of Shoal's metrics, as docs/metrics.md lists it.
type Definition struct {
	Name   string
	Type   string // counter, gauge or histogram
	Labels []string
	Help   string
}

// Names of the metrics, in the order of Definitions.
const (
	JobsTotal            = "shoal_jobs_total"
	JobOutcomesTotal     = "shoal_job_outcomes_total"
	SubmitToAward        = "shoal_job_submit_to_award_seconds"
	AwardToStart         = "shoal_job_award_to_start_seconds"
	RunSeconds           = "shoal_job_run_seconds"
	PlacementLocality    = "shoal_placement_locality_ratio"
	BidsTotal            = "shoal_bids_total"
	DeclinesTotal        = "shoal_declines_total"
	ReceiptsPublished    = "shoal_receipts_published_total"
	ExecutorSlots        = "shoal_executor_slots"
	ExecutorQueueDepth   = "shoal_executor_queue_depth"
	FetchBytesTotal      = "shoal_fetch_bytes_total"
	ProvidesQueued       = "shoal_provides_queued"
	AnnouncementsDropped = "shoal_announcements_dropped_total"
)

// Definitions lists every shoal_* metric a node registers.
func Definitions() []Definition {
	return []Definition{
		{JobsTotal, "counter", []string{"state"}, "Jobs this node submitted that entered a state (pending, bidding, awarded, running, completed, failed, cancelled)."},
		{JobOutcomesTotal, "counter", []string{"state", "code"}, "Jobs this node submitted that ended, by final state and outcome code (\"ok\" for a completed job)."},
		{SubmitToAward, "histogram", nil, "Requester: time from a job's submission to its first award."},
		{AwardToStart, "histogram", nil, "Executor: time from accepting an award to starting its run (queue wait)."},
		{RunSeconds, "histogram", []string{"engine"}, "Executor: time from the start of a run (fetching inputs included) to its receipt."},
		{PlacementLocality, "histogram", nil, "Requester: bytes of the job's inputs the awarded executor held, over their total, per award (0 when it held none, and for a job without inputs)."},
		{BidsTotal, "counter", nil, "Bids this node sent as a bidder."},
		{DeclinesTotal, "counter", []string{"stage", "code"}, "Declines this node sent, by stage (announce: instead of a bid; award: an award refused) and refusal code."},
		{ReceiptsPublished, "counter", []string{"code"}, "Receipts this node signed as executor, by error code (\"ok\" for success)."},
		{ExecutorSlots, "gauge", []string{"state"}, "Executor slots, busy or free."},
		{ExecutorQueueDepth, "gauge", nil, "Accepted awards waiting for a slot."},
		{FetchBytesTotal, "counter", nil, "Bytes of blocks this node received from peers when fetching DAGs (job inputs, modules, outputs to get)."},
		{ProvidesQueued, "gauge", nil, "Pinned roots queued for a DHT provide or being provided."},
		{AnnouncementsDropped, "counter", []string{"reason"}, "Job announcements dropped before they were answered: rate (the author passed its abuse limit), concurrency (too many in progress)."},
	}
}

// Buckets of the duration histograms, in seconds: 1 ms to about 2 min.
func durationBuckets() []float64 { return prometheus.ExponentialBuckets(0.001, 2.5, 14) }

// Metrics holds a node's registry and its collectors. Its methods are safe
// for concurrent use and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry
	// pulled are the collectors Observe registered.
	pulled []prometheus.Collector

	jobs          *prometheus.CounterVec
	outcomes      *prometheus.CounterVec
	submitToAward prometheus.Histogram
	awardToStart  prometheus.Histogram
	run           *prometheus.HistogramVec
	locality      prometheus.Histogram
	bids          prometheus.Counter
	declines      *prometheus.CounterVec
	receipts      *prometheus.CounterVec
	drops         *prometheus.CounterVec
}

// New builds a registry with the Go runtime and process collectors and the
// shoal_* metrics that are pushed (the pulled ones come with Observe).
func New() *Metrics {
	d := map[string]Definition{}
	for _, x := range Definitions() {
		d[x.Name] = x
	}
	opts := func(name string) prometheus.Opts { return prometheus.Opts{Name: name, Help: d[name].Help} }
	hist := func(name string, buckets []float64) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Name: name, Help: d[name].Help, Buckets: buckets}
	}
	m := &Metrics{
		reg:           prometheus.NewRegistry(),
		jobs:          prometheus.NewCounterVec(prometheus.CounterOpts(opts(JobsTotal)), d[JobsTotal].Labels),
		outcomes:      prometheus.NewCounterVec(prometheus.CounterOpts(opts(JobOutcomesTotal)), d[JobOutcomesTotal].Labels),
		submitToAward: prometheus.NewHistogram(hist(SubmitToAward, durationBuckets())),
		awardToStart:  prometheus.NewHistogram(hist(AwardToStart, durationBuckets())),
		run:           prometheus.NewHistogramVec(hist(RunSeconds, durationBuckets()), d[RunSeconds].Labels),
		locality:      prometheus.NewHistogram(hist(PlacementLocality, []float64{0, 0.25, 0.5, 0.75, 0.9, 0.99, 1})),
		bids:          prometheus.NewCounter(prometheus.CounterOpts(opts(BidsTotal))),
		declines:      prometheus.NewCounterVec(prometheus.CounterOpts(opts(DeclinesTotal)), d[DeclinesTotal].Labels),
		receipts:      prometheus.NewCounterVec(prometheus.CounterOpts(opts(ReceiptsPublished)), d[ReceiptsPublished].Labels),
		drops:         prometheus.NewCounterVec(prometheus.CounterOpts(opts(AnnouncementsDropped)), d[AnnouncementsDropped].Labels),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.pushed()...)
	return m
}

// pushed are the collectors the methods below feed.
func (m *Metrics) pushed() []prometheus.Collector {
	return []prometheus.Collector{m.jobs, m.outcomes, m.submitToAward, m.awardToStart, m.run, m.locality,
		m.bids, m.declines, m.receipts, m.drops}
}

// collectors are the shoal_* collectors registered so far.
func (m *Metrics) collectors() []prometheus.Collector { return append(m.pushed(), m.pulled...) }

// register registers a pulled collector.
func (m *Metrics) register(c prometheus.Collector) {
	m.reg.MustRegister(c)
	m.pulled = append(m.pulled, c)
}

// Registry is what GET /metrics serves, and the Registerer to give libp2p.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Sources are the values the registry reads when scraped.
type Sources struct {
	// Load returns the executor's running jobs, queued awards and free slots.
	Load func() (running, queued, free int)
	// FetchedBytes returns the bytes received by fetches so far.
	FetchedBytes func() int64
	// ProvidesQueued returns the roots waiting for or in a provide.
	ProvidesQueued func() int
}

// Observe registers the pulled metrics, read from s at each scrape. Call
// it once (not concurrently with a scrape); a nil field leaves its metric
// out.
func (m *Metrics) Observe(s Sources) {
	if m == nil {
		return
	}
	d := map[string]Definition{}
	for _, x := range Definitions() {
		d[x.Name] = x
	}
	if s.Load != nil {
		load := s.Load
		for _, st := range []string{"busy", "free"} {
			m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ExecutorSlots, Help: d[ExecutorSlots].Help, ConstLabels: prometheus.Labels{"state": st}}, func() float64 {
				running, _, free := load()
				if st == "busy" {
					return float64(running)
				}
				return float64(free)
			}))
		}
		m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ExecutorQueueDepth, Help: d[ExecutorQueueDepth].Help}, func() float64 {
			_, queued, _ := load()
			return float64(queued)
		}))
	}
	if f := s.FetchedBytes; f != nil {
		m.register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: FetchBytesTotal, Help: d[FetchBytesTotal].Help}, func() float64 { return float64(f()) }))
	}
	if f := s.ProvidesQueued; f != nil {
		m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ProvidesQueued, Help: d[ProvidesQueued].Help}, func() float64 { return float64(f()) }))
	}
}

// JobState counts a job of this requester entering state.
func (m *Metrics) JobState(state string) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(state).Inc()
}

// JobOutcome counts a job of this requester ending in state with code
// ("" counts as "ok").
func (m *Metrics) JobOutcome(state, code string) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(state, orOK(code)).Inc()
}

// Awarded records a job's first award, d after its submission.
func (m *Metrics) Awarded(d time.Duration) {
	if m == nil {
		return
	}
	m.submitToAward.Observe(d.Seconds())
}

// Placed records the locality of an award: held of total bytes of the
// inputs at the executor, as its bid said. A bidder that holds none of them
// cannot size them and bids 0 of 0, as for a job without inputs: both
// count 0.
func (m *Metrics) Placed(held, total int64) {
	if m == nil {
		return
	}
	r := 0.0
	if total > 0 {
		r = min(float64(held)/float64(total), 1)
	}
	m.locality.Observe(r)
}

// Started records an accepted award starting to run, d after the accept.
func (m *Metrics) Started(d time.Duration) {
	if m == nil {
		return
	}
	m.awardToStart.Observe(d.Seconds())
}

// Ran records a run of engine that took d, and the receipt signed for it
// with code ("" counts as "ok").
func (m *Metrics) Ran(engine string, d time.Duration, code string) {
	if m == nil {
		return
	}
	m.run.WithLabelValues(engine).Observe(d.Seconds())
	m.receipts.WithLabelValues(orOK(code)).Inc()
}

// Bid counts a bid sent.
func (m *Metrics) Bid() {
	if m == nil {
		return
	}
	m.bids.Inc()
}

// Declined counts a decline sent at stage ("announce" or "award") with code.
func (m *Metrics) Declined(stage, code string) {
	if m == nil {
		return
	}
	m.declines.WithLabelValues(stage, code).Inc()
}

// AnnouncementDropped counts an announcement dropped for reason ("rate"
// or "concurrency").
func (m *Metrics) AnnouncementDropped(reason string) {
	if m == nil {
		return
	}
	m.drops.WithLabelValues(reason).Inc()
}

func orOK(code string) string {
	if code == "" {
		return "ok"
	}
	return code
}
