package api

import "github.com/shoalnet/shoal/bidding/market"

// Partition is a partitioned job's part of its record (docs/jobspec.md,
// partition): its tasks, each an ordinary job, and the result directory.
type Partition struct {
	By          string `json:"by"`
	Input       string `json:"input,omitempty"`
	MaxParallel int    `json:"max_parallel,omitempty"`
	Retries     int    `json:"retries"`
	// Result is the directory with each task's outputs under /<index>/,
	// once every task completed.
	Result string          `json:"result,omitempty"`
	Tasks  []PartitionTask `json:"tasks"`
}

// PartitionTask is one task of a partitioned job.
type PartitionTask struct {
	Index int    `json:"index"`
	Shard string `json:"shard"`
	// CID is the shard's data.
	CID string `json:"cid,omitempty"`
	// Job is the task's job ID (GET /jobs/{id} has its record).
	Job      string   `json:"job"`
	State    JobState `json:"state,omitempty"`
	Attempts int      `json:"attempts,omitempty"`
	// Failed are the executors earlier attempts failed on.
	Failed  []string `json:"failed,omitempty"`
	Outputs string   `json:"outputs,omitempty"`
	// Executor is the node that ran (or runs) the current attempt;
	// HeldLocally says its bid held the task's inputs in full, and
	// BytesFetched is how many input bytes it lacked (and so fetched), as
	// its signed bid declared (or, when it bid without knowing the
	// inputs' size, what its fetch made local). Absent in a job list and before an award.
	Executor     string `json:"executor,omitempty"`
	HeldLocally  bool   `json:"held_locally,omitempty"`
	BytesFetched int64  `json:"bytes_fetched,omitempty"`
}

func partitionOf(p *market.PartitionInfo) *Partition {
	if p == nil {
		return nil
	}
	out := &Partition{By: p.By, Input: p.Input, MaxParallel: p.MaxParallel, Retries: p.Retries, Result: p.Result, Tasks: []PartitionTask{}}
	for _, t := range p.Tasks {
		out.Tasks = append(out.Tasks, PartitionTask{Index: t.Index, Shard: t.Shard, CID: t.CID, Job: t.Job, State: JobState(t.State),
			Attempts: t.Attempts, Failed: t.Failed, Outputs: t.Outputs})
	}
	return out
}

// placeTasks fills in each task's executor and locality from its job
// record: the executor of its receipt (else of its latest award), and that
// executor's bid.
func placeTasks(p *Partition, jobs *market.JobStore) {
	if p == nil {
		return
	}
	for i := range p.Tasks {
		t := &p.Tasks[i]
		j, err := jobs.Get(t.Job)
		if err != nil {
			continue
		}
		t.State = JobState(j.State)
		switch {
		case len(j.Receipts) > 0:
			t.Executor = j.Receipts[len(j.Receipts)-1].Executor
		case len(j.Awards) > 0:
			t.Executor = j.Awards[len(j.Awards)-1].Executor
		}
		// A bidder that holds none of an input cannot tell its size (it
		// bids 0 of 0): what its fetch made local is then what it fetched.
		known := false
		for _, b := range j.Bids {
			if b.Peer == t.Executor && b.TotalBytes > 0 {
				known = true
				t.HeldLocally = b.LocalBytes >= b.TotalBytes
				t.BytesFetched = max(b.TotalBytes-b.LocalBytes, 0)
			}
		}
		if !known {
			for _, a := range j.Awards {
				if a.Executor != t.Executor {
					continue
				}
				for _, ph := range a.Phases {
					if ph.Phase == "fetching" {
						t.BytesFetched = max(t.BytesFetched, ph.Done)
					}
				}
			}
		}
		if len(j.Receipts) > 0 && j.Receipts[len(j.Receipts)-1].Reused {
			t.Executor, t.HeldLocally, t.BytesFetched = j.Receipts[len(j.Receipts)-1].Executor+" (reused)", true, 0
		}
	}
}
