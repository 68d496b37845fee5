package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// docRow is a row of the table in docs/metrics.md.
var docRow = regexp.MustCompile("^\\| `(shoal_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")

// Every registered shoal_* metric is documented in docs/metrics.md with its
// type and labels, and every documented one is registered.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]Definition{}
	for _, l := range strings.Split(string(b), "\n") {
		m := docRow.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var labels []string
		for _, x := range strings.Split(m[3], ",") {
			if x = strings.Trim(strings.TrimSpace(x), "`"); x != "" {
				labels = append(labels, x)
			}
		}
		doc[m[1]] = Definition{Name: m[1], Type: m[2], Labels: labels}
	}
	defs := map[string]Definition{}
	for _, d := range Definitions() {
		defs[d.Name] = d
		got, ok := doc[d.Name]
		switch {
		case !ok:
			t.Errorf("%s is not documented in docs/metrics.md", d.Name)
		case got.Type != d.Type || !slices.Equal(got.Labels, d.Labels):
			t.Errorf("%s: docs/metrics.md says %s %v, the code %s %v", d.Name, got.Type, got.Labels, d.Type, d.Labels)
		}
	}
	for name := range doc {
		if _, ok := defs[name]; !ok {
			t.Errorf("docs/metrics.md documents %s, which no node registers", name)
		}
	}
	registered := registeredNames(t)
	for name := range registered {
		if _, ok := defs[name]; !ok {
			t.Errorf("%s is registered but not in Definitions", name)
		}
	}
	for name := range defs {
		if !registered[name] {
			t.Errorf("%s is in Definitions but not registered", name)
		}
	}
}

// registeredNames are the shoal_* names of every collector a node's
// registry holds once every source is observed.
func registeredNames(t *testing.T) map[string]bool {
	m := New()
	m.Observe(Sources{Load: func() (int, int, int) { return 1, 2, 3 }, FetchedBytes: func() int64 { return 4 }, ProvidesQueued: func() int { return 5 }})
	ch := make(chan *prometheus.Desc, 1000)
	go func() {
		// The registry describes what it holds through Gather; the
		// collectors themselves through Describe.
		for _, c := range m.collectors() {
			c.Describe(ch)
		}
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	out := map[string]bool{}
	for d := range ch {
		if n := fq.FindStringSubmatch(d.String()); n != nil && strings.HasPrefix(n[1], "shoal_") {
			out[n[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("no shoal_* collector found")
	}
	return out
}

// What each method records shows in a scrape, with its labels.
func TestMetricsRecord(t *testing.T) {
	m := New()
	m.Observe(Sources{Load: func() (int, int, int) { return 1, 2, 3 }, FetchedBytes: func() int64 { return 4096 }, ProvidesQueued: func() int { return 5 }})
	m.JobState("completed")
	m.JobOutcome("failed", "timeout")
	m.JobOutcome("completed", "")
	m.Awarded(20 * time.Millisecond)
	m.Placed(3, 4)
	m.Placed(0, 0)
	m.Started(time.Millisecond)
	m.Ran("wasm", time.Second, "")
	m.Bid()
	m.Declined("announce", "no_engine")
	m.AnnouncementDropped("rate")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	value := func(name string, labels ...string) float64 {
		f := got[name]
		if f == nil {
			t.Fatalf("%s not gathered", name)
		}
	metrics:
		for _, x := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range x.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case x.Counter != nil:
				return x.Counter.GetValue()
			case x.Gauge != nil:
				return x.Gauge.GetValue()
			case x.Histogram != nil:
				return float64(x.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("%s%v not gathered", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{JobsTotal, []string{"state", "completed"}, 1},
		{JobOutcomesTotal, []string{"state", "failed", "code", "timeout"}, 1},
		{JobOutcomesTotal, []string{"state", "completed", "code", "ok"}, 1},
		{SubmitToAward, nil, 1},
		{PlacementLocality, nil, 2},
		{AwardToStart, nil, 1},
		{RunSeconds, []string{"engine", "wasm"}, 1},
		{ReceiptsPublished, []string{"code", "ok"}, 1},
		{BidsTotal, nil, 1},
		{DeclinesTotal, []string{"stage", "announce", "code", "no_engine"}, 1},
		{AnnouncementsDropped, []string{"reason", "rate"}, 1},
		{ExecutorSlots, []string{"state", "busy"}, 1},
		{ExecutorSlots, []string{"state", "free"}, 3},
		{ExecutorQueueDepth, nil, 2},
		{FetchBytesTotal, nil, 4096},
		{ProvidesQueued, nil, 5},
	} {
		if v := value(c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	var nilM *Metrics // a node without metrics records nothing, and does not panic
	nilM.Bid()
	nilM.Observe(Sources{})
	nilM.Ran("wasm", time.Second, "x")
}

// Two nodes in one process have registries of their own.
func TestMetricsPerNode(t *testing.T) {
	a, b := New(), New()
	a.Bid()
	fams, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == BidsTotal && f.GetMetric()[0].GetCounter().GetValue() != 0 {
			t.Fatal("a bid of one node counted on the other")
		}
	}
}
