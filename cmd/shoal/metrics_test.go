package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// scrape GETs the daemon's /metrics with its token and parses it with
// Prometheus' own parser.
func scrape(t *testing.T, d *testnet.Daemon) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.Get(ctx, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics of %s: %s", d.ID, resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics of %s is not Prometheus text: %v", d.ID, err)
	}
	return fams
}

// metricValue is the value of the series of name with the given label
// pairs (a histogram's sample count), 0 when it is absent.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !ok {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// A job run across two real daemons moves the requester's and the
// executor's counters: states, outcome, durations, locality, bids,
// receipts and the bytes the executor fetched; go-libp2p's metrics are in
// the same scrape.
func TestMetricsMoveWhenJobRuns(t *testing.T) {
	ds := jobNet(t, 2, nil, []string{"role=worker"})
	a, b := ds[0], ds[1]
	dir := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("metrics move\n", 40000) // 520 kB: three blocks for B to fetch
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	input := addQ(t, a, "-r", dir)
	beforeA, beforeB := scrape(t, a), scrape(t, b)

	j, err := runJSON(t, a, "run", "wasm", testnet.TinyHelloModule(t), "--input", input+":/inputs", "--label", "role=worker", "--name", "metrics-move")
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != b.ID {
		t.Fatalf("job %s: state %s, receipts %+v; want completed on %s", j.ID, j.State, j.Receipts, b.ID)
	}
	afterA, afterB := scrape(t, a), scrape(t, b)
	moved := func(who string, before, after map[string]*dto.MetricFamily, min float64, name string, labels ...string) {
		t.Helper()
		was, now := metricValue(before, name, labels...), metricValue(after, name, labels...)
		if now-was < min {
			t.Errorf("%s: %s%v went from %v to %v, want a rise of at least %v", who, name, labels, was, now, min)
		}
	}
	moved("requester", beforeA, afterA, 1, "shoal_jobs_total", "state", "completed")
	moved("requester", beforeA, afterA, 1, "shoal_jobs_total", "state", "pending")
	moved("requester", beforeA, afterA, 1, "shoal_job_outcomes_total", "state", "completed", "code", "ok")
	moved("requester", beforeA, afterA, 1, "shoal_job_submit_to_award_seconds")
	moved("requester", beforeA, afterA, 1, "shoal_placement_locality_ratio")
	moved("executor", beforeB, afterB, 1, "shoal_bids_total")
	moved("executor", beforeB, afterB, 1, "shoal_receipts_published_total", "code", "ok")
	moved("executor", beforeB, afterB, 1, "shoal_job_run_seconds", "engine", "wasm")
	moved("executor", beforeB, afterB, 1, "shoal_job_award_to_start_seconds")
	moved("executor", beforeB, afterB, float64(len(data)), "shoal_fetch_bytes_total")
	// A holds the data and has no worker label: it declined.
	moved("requester's own bidder", beforeA, afterA, 1, "shoal_declines_total", "stage", "announce")
	if v := metricValue(afterB, "shoal_executor_slots", "state", "busy"); v != 0 {
		t.Errorf("executor: %v busy slots after the job", v)
	}
	for _, name := range []string{"libp2p_rcmgr_limit", "libp2p_identify_protocols_count", "go_goroutines"} {
		if afterA[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if metricValue(afterA, "libp2p_rcmgr_connections", "dir", "inbound", "scope", "system")+metricValue(afterA, "libp2p_rcmgr_connections", "dir", "outbound", "scope", "system") < 1 {
		t.Errorf("libp2p_rcmgr_connections shows no connection of the requester (it has %d peers)", len(ds)-1)
	}
}
