package workflow

import "fmt"

// StepState is the state of one step of a workflow run.
type StepState string

// Step states. Waiting steps wait for their inputs; a step is Running from
// its submission until its job ends.
const (
	StepWaiting   StepState = "waiting"
	StepRunning   StepState = "running"
	StepCompleted StepState = "completed"
	StepFailed    StepState = "failed"
	StepCancelled StepState = "cancelled"
)

// Terminal reports whether the state is final.
func (s StepState) Terminal() bool {
	return s == StepCompleted || s == StepFailed || s == StepCancelled
}

// Plan is what to do next in a workflow run.
type Plan struct {
	// Ready are the waiting steps whose inputs all exist: submit them.
	Ready []int
	// Blocked are waiting steps that can never run because a step they
	// need (directly or not) failed or was cancelled, with the reason.
	Blocked map[int]string
	// Done: every step is in a terminal state (after Blocked is applied).
	Done bool
}

// Next plans a run of w whose steps are in states (one per step, in step
// order). It is a pure function: the Runner applies its result. A step is
// ready when every step it takes inputs from completed; it is blocked when
// one of them failed or was cancelled, or is itself blocked, so a failure
// reaches all its dependents at once while independent branches go on.
func Next(w *Workflow, states []StepState) Plan {
	p := Plan{Blocked: map[int]string{}}
	// Blocked propagates along the DAG: iterate until nothing changes
	// (at most the depth of the DAG).
	eff := append([]StepState(nil), states...)
	for changed := true; changed; {
		changed = false
		for i := range w.Steps {
			if eff[i] != StepWaiting {
				continue
			}
			for _, dep := range w.Needs(i) {
				j := w.Index(dep)
				switch eff[j] {
				case StepFailed, StepCancelled:
					why := fmt.Sprintf("step %q it takes inputs from %s", dep, eff[j])
					if r, ok := p.Blocked[j]; ok {
						why = fmt.Sprintf("step %q it takes inputs from did not run (%s)", dep, r)
					}
					p.Blocked[i] = why
					eff[i] = StepFailed
					changed = true
				}
				if eff[i] != StepWaiting {
					break
				}
			}
		}
	}
	p.Done = true
	for i := range w.Steps {
		if !eff[i].Terminal() {
			p.Done = false
		}
		if eff[i] != StepWaiting {
			continue
		}
		ready := true
		for _, dep := range w.Needs(i) {
			if eff[w.Index(dep)] != StepCompleted {
				ready = false
				break
			}
		}
		if ready {
			p.Ready = append(p.Ready, i)
		}
	}
	return p
}
