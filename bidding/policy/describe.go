package policy

import (
	"fmt"
	"strings"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Line is one rule of a policy described for humans.
type Line struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Describe says what the policy lets through on a node running engines,
// one line per rule, for `shoal policy show` and the daemon's start log.
func (p *Policy) Describe(engines []string) []Line {
	var out []Line
	add := func(k, format string, args ...any) { out = append(out, Line{k, fmt.Sprintf(format, args...)}) }

	switch rq := p.Requesters; {
	case rq.Anyone():
		add("requesters", "anyone")
	default:
		var parts []string
		if len(rq.Peers) > 0 {
			parts = append(parts, fmt.Sprintf("peers [%s]", strings.Join(rq.Peers, " ")))
		}
		if len(rq.Orgs) > 0 {
			parts = append(parts, fmt.Sprintf("members of orgs [%s]", strings.Join(rq.Orgs, " ")))
		}
		add("requesters", "%s", strings.Join(parts, " or "))
	}
	runs := ""
	if engines != nil {
		runs = fmt.Sprintf(" [%s]", strings.Join(engines, " "))
	}
	if len(p.Engines) == 0 {
		add("engines", "every engine this node runs%s", runs)
	} else {
		add("engines", "[%s] (this node runs%s)", strings.Join(p.Engines, " "), runs)
	}
	c := p.MaxResources
	if c == (Ceilings{}) {
		add("per-job ceiling", "none beyond the node's capacity")
	} else {
		var parts []string
		if c.CPU > 0 {
			parts = append(parts, "cpu "+jobspec.FormatCPU(int64(c.CPU)))
		}
		if c.Memory > 0 {
			parts = append(parts, "memory "+jobspec.FormatSize(int64(c.Memory)))
		}
		if c.Disk > 0 {
			parts = append(parts, "disk "+jobspec.FormatSize(int64(c.Disk)))
		}
		add("per-job ceiling", "%s", strings.Join(parts, ", "))
	}
	if p.Docker.Any() {
		add("docker images", "any")
	} else {
		add("docker images", "names matching [%s], CIDs [%s]", strings.Join(p.Docker.Images, " "), strings.Join(p.Docker.ImageCIDs, " "))
	}
	if p.LocalInputsOnly {
		add("inputs", "only jobs whose inputs are held here")
	} else {
		add("inputs", "fetched when not held here")
	}
	if p.MaxInputSize > 0 {
		add("max input size", "%s", jobspec.FormatSize(int64(p.MaxInputSize)))
	} else {
		add("max input size", "no limit")
	}
	pr := p.PerRequester
	switch {
	case pr.MaxConcurrent == 0 && pr.JobsPerMinute == 0:
		add("per requester", "no limit")
	default:
		var parts []string
		if pr.MaxConcurrent > 0 {
			parts = append(parts, fmt.Sprintf("at most %d job(s) at once", pr.MaxConcurrent))
		}
		if pr.JobsPerMinute > 0 {
			parts = append(parts, fmt.Sprintf("at most %d job(s) per minute", pr.JobsPerMinute))
		}
		add("per requester", "%s", strings.Join(parts, ", "))
	}
	a := p.Abuse.Effective()
	add("abuse limits", "%s announcements and %s bid streams per peer",
		rateText(a.AnnouncesPerSecond, a.AnnounceBurst), rateText(a.BidStreamsPerSecond, a.BidStreamBurst))
	return out
}

func rateText(rate float64, burst int) string {
	if rate <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s (burst %d)", rate, burst)
}
