package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// SVG draws the run's figures: the CDFs on the left, the bars of means on
// the right, written by hand (no plotting library).
func SVG(r *Results) string {
	const w, h = 960, 420
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	title := fmt.Sprintf("%s/%s · %s · %d instances · %s · %.1fs", r.Plan, r.Case, r.Runner, r.Instances, r.Outcome, r.DurationS)
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="15">%s</text>`+"\n", w/2, html.EscapeString(title))
	cdfPanel(&b, r, 60, 50, 400, 310)
	barPanel(&b, r, 560, 50, 360, 310)
	b.WriteString("</svg>\n")
	return b.String()
}

func cdfPanel(b *strings.Builder, r *Results, x0, y0, pw, ph float64) {
	axes(b, x0, y0, pw, ph)
	if len(r.CDF) == 0 {
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#888">no latency samples</text>`+"\n", x0+pw/2, y0+ph/2)
		return
	}
	names := sortedKeys(r.CDF)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range names {
		for _, p := range r.CDF[n] {
			lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
		}
	}
	// Latencies span decades (a tail of seconds over a body of
	// milliseconds): a logarithmic axis then, a linear one otherwise.
	logX := lo > 0 && hi/lo > 100
	if !logX {
		lo = math.Min(lo, 0)
	}
	if hi <= lo {
		hi = lo + 1
	}
	X := func(v float64) float64 { return x0 + (v-lo)/(hi-lo)*pw }
	var ticks []float64
	if logX {
		llo, lhi := math.Log10(lo), math.Log10(hi)
		X = func(v float64) float64 { return x0 + (math.Log10(math.Max(v, lo))-llo)/(lhi-llo)*pw }
		for e := math.Ceil(llo); e <= math.Floor(lhi); e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		for k := 0; k <= 4; k++ {
			ticks = append(ticks, lo+(hi-lo)*float64(k)/4)
		}
	}
	Y := func(f float64) float64 { return y0 + ph - f*ph }
	for _, v := range ticks {
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", X(v), y0+ph+16, num(v))
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>`+"\n", X(v), y0, X(v), y0+ph)
	}
	for k := 0; k <= 4; k++ {
		f := float64(k) / 4
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="end">%.2f</text>`+"\n", x0-6, Y(f)+4, f)
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>`+"\n", x0, Y(f), x0+pw, Y(f))
	}
	axisLabel := "value (CDF)"
	if logX {
		axisLabel = "value, log scale (CDF)"
	}
	for i, n := range names {
		var pts []string
		for _, p := range r.CDF[n] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(p.V), Y(p.F)))
		}
		c := palette[i%len(palette)]
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		st := r.Metrics[n]
		fmt.Fprintf(b, `<text x="%g" y="%g" fill="%s">%s  p50 %s  p95 %s</text>`+"\n", x0+8, y0+14+16*float64(i), c, html.EscapeString(n), num(st.P50), num(st.P95))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", x0+pw/2, y0+ph+34, axisLabel)
}

func barPanel(b *strings.Builder, r *Results, x0, y0, pw, ph float64) {
	axes(b, x0, y0, pw, ph)
	var names []string
	for _, n := range r.Bars {
		if _, ok := r.Metrics[n]; ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#888">no bar metrics</text>`+"\n", x0+pw/2, y0+ph/2)
		return
	}
	top := 1.0
	for _, n := range names {
		top = math.Max(top, r.Metrics[n].Mean)
	}
	slot := pw / float64(len(names))
	for i, n := range names {
		m := r.Metrics[n].Mean
		bh := m / top * ph
		x := x0 + float64(i)*slot + slot*0.15
		c := palette[i%len(palette)]
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y0+ph-bh, slot*0.7, bh, c)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+slot*0.35, y0+ph-bh-4, num(m))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+slot*0.35, y0+ph+16, html.EscapeString(n))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">mean (fraction of jobs for 0/1 metrics)</text>`+"\n", x0+pw/2, y0+ph+34)
}

func axes(b *strings.Builder, x0, y0, pw, ph float64) {
	fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", x0, y0+ph, x0+pw, y0+ph)
	fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", x0, y0, x0, y0+ph)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
