package market

import (
	"errors"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PartitionType is the Job.Type of a partitioned job's record.
const PartitionType = "partition"

// ErrPartitioned is returned by Submit for a partitioned spec: its tasks
// are jobs of the market, but the job itself is driven by the node
// (node.SubmitJob), which splits it.
var ErrPartitioned = errors.New("market: a partitioned job is submitted through the node, which splits it into tasks")

// PartitionInfo is the requester's record of a partitioned job.
type PartitionInfo struct {
	By          string `json:"by"`
	Input       string `json:"input,omitempty"`
	MaxParallel int    `json:"max_parallel,omitempty"`
	Retries     int    `json:"retries"`
	// Result is the CID of the directory holding each task's outputs
	// under /<index>/, once every task completed.
	Result string     `json:"result,omitempty"`
	Tasks  []TaskInfo `json:"tasks"`
}

// TaskInfo is one task of a partitioned job: an ordinary job (its record
// is Job), run once per attempt.
type TaskInfo struct {
	Index int `json:"index"`
	// Shard names the task's data: the directory entry or input path.
	Shard string `json:"shard"`
	// CID is the shard's data.
	CID string `json:"cid,omitempty"`
	// Job is the task's job ID.
	Job string `json:"job"`
	// State is the task's state as the partition runner last saw it
	// ("" before it was submitted).
	State State `json:"state,omitempty"`
	// Attempts is how many runs were submitted.
	Attempts int `json:"attempts,omitempty"`
	// Failed are the executors earlier attempts failed on (excluded from
	// the next).
	Failed []string `json:"failed,omitempty"`
	// Outputs is the task's outputs CID once it completed.
	Outputs string `json:"outputs,omitempty"`
}

// Clone returns a deep copy of p.
func (p *PartitionInfo) Clone() *PartitionInfo {
	if p == nil {
		return nil
	}
	c := *p
	c.Tasks = slices.Clone(p.Tasks)
	for i := range c.Tasks {
		c.Tasks[i].Failed = slices.Clone(c.Tasks[i].Failed)
	}
	return &c
}

func peerStrings(ps []peer.ID) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// Log appends an event to the record (for a caller of JobStore.Update
// driving a record the market does not: a partitioned job's).
func (j *Job) Log(e Event) { j.log(e) }
