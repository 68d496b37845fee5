// Package report turns a run's outputs into figures: it aggregates the
// metrics every instance wrote to results.out into results.json (count,
// mean, min, max, p50, p95, p99 per metric, and CDF points), draws
// plot.svg next to it, and prints a run's summary table.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

// File names in a run directory.
const (
	ResultsFile = "results.json"
	PlotFile    = "plot.svg"
)

// cdfPoints is how many points a CDF keeps.
const cdfPoints = 101

// Instance is one instance's outcome.
type Instance struct {
	Index   int    `json:"index"`
	Group   string `json:"group"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Dir     string `json:"dir"`
}

// Group is a group's size.
type Group struct {
	ID        string `json:"id"`
	Instances int    `json:"instances"`
}

// Results is results.json.
type Results struct {
	RunID     string            `json:"run_id"`
	Plan      string            `json:"plan"`
	Case      string            `json:"case"`
	Runner    string            `json:"runner"`
	Instances int               `json:"instances"`
	Groups    []Group           `json:"groups"`
	Params    map[string]string `json:"params"`
	Started   time.Time         `json:"started"`
	DurationS float64           `json:"duration_s"`
	Outcome   string            `json:"outcome"` // success or failure
	Error     string            `json:"error,omitempty"`
	Outcomes  map[string]int    `json:"instance_outcomes"`
	Failed    []Instance        `json:"failed,omitempty"`
	Metrics   map[string]Stats  `json:"metrics"`
	CDF       map[string][]Pt   `json:"cdf,omitempty"`
	Bars      []string          `json:"bars,omitempty"`
}

// Stats summarises one metric over all instances.
type Stats struct {
	Count int     `json:"count"`
	Sum   float64 `json:"sum"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Pt is a CDF point: the fraction F of samples ≤ V.
type Pt struct {
	V float64 `json:"v"`
	F float64 `json:"f"`
}

// Build aggregates the instances' results.out files.
func Build(r Results, instances []Instance, rep manifest.Report) (*Results, error) {
	r.Outcomes = map[string]int{}
	samples := map[string][]float64{}
	for _, in := range instances {
		r.Outcomes[in.Outcome]++
		if in.Outcome != "success" {
			r.Failed = append(r.Failed, in)
		}
		f, err := os.Open(filepath.Join(in.Dir, runtime.ResultsOutFile))
		if err != nil {
			continue
		}
		ms, err := runtime.ReadMetrics(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("report: instance %d: %w", in.Index, err)
		}
		for _, m := range ms {
			if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
				samples[m.Name] = append(samples[m.Name], m.Value)
			}
		}
	}
	r.Metrics = map[string]Stats{}
	for name, s := range samples {
		sort.Float64s(s)
		r.Metrics[name] = stats(s)
	}
	for _, name := range rep.CDF {
		if s := samples[name]; len(s) > 0 {
			if r.CDF == nil {
				r.CDF = map[string][]Pt{}
			}
			r.CDF[name] = cdf(s)
		}
	}
	r.Bars = rep.Bars
	return &r, nil
}

func stats(s []float64) Stats {
	st := Stats{Count: len(s), Min: s[0], Max: s[len(s)-1], P50: q(s, 0.5), P95: q(s, 0.95), P99: q(s, 0.99)}
	for _, v := range s {
		st.Sum += v
	}
	st.Mean = st.Sum / float64(len(s))
	return st
}

// q is the nearest-rank quantile of sorted s.
func q(s []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func cdf(s []float64) []Pt {
	out := make([]Pt, 0, cdfPoints)
	for k := 0; k < cdfPoints; k++ {
		f := float64(k) / float64(cdfPoints-1)
		out = append(out, Pt{V: q(s, max(f, 1/float64(len(s)))), F: f})
	}
	return out
}

// Write writes results.json and plot.svg into dir.
func Write(dir string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, PlotFile), []byte(SVG(r)), 0o644)
}

// Read reads a run's results.json; run is a run directory or a run ID
// under outputs.
func Read(run, outputs string) (*Results, string, error) {
	dir := run
	if _, err := os.Stat(filepath.Join(dir, ResultsFile)); err != nil {
		dir = filepath.Join(outputs, run)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		return nil, "", fmt.Errorf("no results for run %q (looked in %s and %s): %w", run, run, filepath.Join(outputs, run), err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Join(dir, ResultsFile), err)
	}
	return &r, dir, nil
}

// Table prints the run's summary: outcome, then one row per metric.
func Table(w io.Writer, r *Results) error {
	fmt.Fprintf(w, "run %s  plan %s  case %s  runner %s  instances %d  %.1fs  %s\n",
		r.RunID, r.Plan, r.Case, r.Runner, r.Instances, r.DurationS, strings.ToUpper(r.Outcome))
	if r.Error != "" {
		fmt.Fprintf(w, "  %s\n", r.Error)
	}
	names := make([]string, 0, len(r.Metrics))
	for n := range r.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tcount\tmean\tp50\tp95\tp99\tmin\tmax\t")
	for _, n := range names {
		s := r.Metrics[n]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", n, s.Count, num(s.Mean), num(s.P50), num(s.P95), num(s.P99), num(s.Min), num(s.Max))
	}
	return tw.Flush()
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e9:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}
