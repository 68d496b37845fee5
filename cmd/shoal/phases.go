package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/node/api"
)

// phaseNames are the award states as `describe` names them: an accepted
// award waits in the executor's queue.
var phaseNames = map[string]string{"accepted": "queued"}

// endStates are award states that end it (no duration of their own).
var endStates = map[string]bool{"completed": true, "failed": true, "cancelled": true, "declined": true, "lost": true}

// phaseLine renders an award's phases with their durations, as
// "offered 3ms · queued 1ms · fetching 2.0 MiB/2.0 MiB 40ms · running 2.01s
// · publishing 12ms · completed"; the phase in progress runs until now.
func phaseLine(ps []api.Phase, now time.Time) string {
	var parts []string
	for i, p := range ps {
		name := p.Phase
		if n, ok := phaseNames[name]; ok {
			name = n
		}
		if endStates[p.Phase] {
			parts = append(parts, name)
			continue
		}
		end, running := now, true
		if i+1 < len(ps) {
			end, running = ps[i+1].Start, false
		}
		part := name
		if p.Done > 0 || p.Total > 0 {
			part += fmt.Sprintf(" %s/%s", jobspec.FormatSize(p.Done), jobspec.FormatSize(p.Total))
		}
		part += " " + end.Sub(p.Start).Round(time.Millisecond).String()
		if running {
			part += " so far"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, " · ")
}
