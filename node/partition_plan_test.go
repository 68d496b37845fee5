package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/bidding/market"
)

func testPartition(n, maxParallel, retries int) *market.PartitionInfo {
	p := &market.PartitionInfo{By: "entry", MaxParallel: maxParallel, Retries: retries}
	for i := range n {
		p.Tasks = append(p.Tasks, market.TaskInfo{Index: i, Shard: "s" + string(rune('a'+i)), Job: "job" + string(rune('a'+i))})
	}
	return p
}

func TestPlanPartition(t *testing.T) {
	running := taskRun{found: true, state: market.Running}
	done := taskRun{found: true, state: market.Completed, outputs: "out"}
	failed := taskRun{found: true, state: market.Failed, failed: []string{"peerX"}, err: "exit code 3"}
	tests := []struct {
		name        string
		p           *market.PartitionInfo
		attempts    []int
		runs        []taskRun
		submit      []int
		cancel      []string
		fail        string
		complete    bool
		wantFailedA []string
	}{
		{name: "first step submits all", p: testPartition(3, 0, 1), attempts: []int{0, 0, 0}, runs: make([]taskRun, 3), submit: []int{0, 1, 2}},
		{name: "max_parallel bounds the tasks in flight", p: testPartition(4, 2, 1), attempts: []int{1, 0, 0, 0}, runs: []taskRun{running, {}, {}, {}}, submit: []int{1}},
		{name: "a completed task frees a place", p: testPartition(3, 1, 1), attempts: []int{1, 0, 0}, runs: []taskRun{done, {}, {}}, submit: []int{1}},
		{name: "a failed task is retried first, excluding its executor", p: testPartition(3, 1, 1), attempts: []int{1, 0, 0}, runs: []taskRun{failed, {}, {}}, submit: []int{0}, wantFailedA: []string{"peerX"}},
		{name: "out of retries fails the job naming the task", p: testPartition(3, 0, 1), attempts: []int{2, 1, 1}, runs: []taskRun{failed, running, done}, cancel: []string{"jobb"}, fail: "task 0 (sa, job joba) failed after 2 attempt(s): exit code 3"},
		{name: "retries 0", p: testPartition(1, 0, 0), attempts: []int{1}, runs: []taskRun{failed}, fail: "task 0"},
		{name: "all completed", p: testPartition(2, 0, 1), attempts: []int{1, 2}, runs: []taskRun{done, done}, complete: true},
		{name: "a lost record is submitted again", p: testPartition(2, 0, 1), attempts: []int{1, 1}, runs: []taskRun{done, {}}, submit: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range tt.attempts {
				tt.p.Tasks[i].Attempts = a
			}
			plan := planPartition(tt.p, tt.runs)
			if !slices.Equal(plan.submit, tt.submit) || !slices.Equal(plan.cancel, tt.cancel) || plan.complete != tt.complete {
				t.Fatalf("plan %+v, want submit %v cancel %v complete %v", plan, tt.submit, tt.cancel, tt.complete)
			}
			if (tt.fail == "") != (plan.fail == "") || !strings.Contains(plan.fail, tt.fail) {
				t.Fatalf("fail %q, want %q", plan.fail, tt.fail)
			}
			if tt.wantFailedA != nil && !slices.Equal(tt.p.Tasks[0].Failed, tt.wantFailedA) {
				t.Fatalf("failed executors %v, want %v", tt.p.Tasks[0].Failed, tt.wantFailedA)
			}
			if tt.complete && tt.p.Tasks[0].Outputs != "out" {
				t.Fatalf("outputs not recorded: %+v", tt.p.Tasks[0])
			}
		})
	}
}
