package report_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/report"
)

func TestBuildWriteRead(t *testing.T) {
	dir := t.TempDir()
	var insts []report.Instance
	for i := 0; i < 4; i++ {
		d := filepath.Join(dir, "g", fmt.Sprint(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for k := 1; k <= 25; k++ {
			fmt.Fprintf(&b, `{"ts":"2026-01-01T00:00:00Z","name":"lat","value":%d}`+"\n", i*25+k)
		}
		fmt.Fprintf(&b, `{"ts":"2026-01-01T00:00:00Z","name":"ok","value":%d}`+"\nnot json\n", i%2)
		if err := os.WriteFile(filepath.Join(d, "results.out"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		outcome := "success"
		if i == 3 {
			outcome = "failure"
		}
		insts = append(insts, report.Instance{Index: i, Group: "g", Outcome: outcome, Dir: d})
	}
	r, err := report.Build(report.Results{RunID: "r1", Plan: "p", Outcome: "failure"}, insts, manifest.Report{CDF: []string{"lat"}, Bars: []string{"ok"}})
	if err != nil {
		t.Fatal(err)
	}
	lat := r.Metrics["lat"]
	if lat.Count != 100 || lat.Min != 1 || lat.Max != 100 || lat.P50 != 50 || lat.P95 != 95 || lat.P99 != 99 || lat.Mean != 50.5 {
		t.Fatalf("lat stats %+v", lat)
	}
	if r.Metrics["ok"].Mean != 0.5 || len(r.Failed) != 1 || r.Outcomes["success"] != 3 {
		t.Fatalf("results %+v", r)
	}
	if c := r.CDF["lat"]; len(c) != 101 || c[0].V != 1 || c[100].V != 100 || c[100].F != 1 {
		t.Fatalf("cdf %v", c)
	}
	if err := report.Write(dir, r); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(filepath.Join(dir, report.PlotFile))
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("plot is not well-formed XML: %v", err)
	}
	back, _, err := report.Read(dir, "")
	if err != nil || back.Metrics["lat"].Count != 100 {
		t.Fatalf("read: %v", err)
	}
	var table strings.Builder
	if err := report.Table(&table, back); err != nil || !strings.Contains(table.String(), "lat") {
		t.Fatalf("table %q: %v", table.String(), err)
	}
}
