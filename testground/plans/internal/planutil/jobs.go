package planutil

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/testground/internal/wasmprog"
)

// JobResources is what a simulation job asks for: small, so a node's
// capacity is counted in slots, not CPU.
var JobResources = jobspec.Resources{MilliCPU: 100, Memory: 16 << 20, Disk: 16 << 20}

// AddBytes adds b as a pinned UnixFS file and returns its CID.
func (n *Node) AddBytes(ctx context.Context, b []byte) (cid.Cid, error) {
	return n.Content.Add(ctx, files.NewBytesFile(b), content.AddOptions{Pin: true})
}

// AddModule adds the tiny wasm module that sleeps for sleep and prints
// msg; every instance adding the same module gets the same CID.
func (n *Node) AddModule(ctx context.Context, sleep time.Duration, msg string) (cid.Cid, error) {
	return n.AddBytes(ctx, wasmprog.Module(sleep, msg))
}

// Spec builds a batch job running module with inputs mounted under /in/N.
// Plans measure placement and failover of real runs, so their jobs never
// take a receipt the network already holds (reuse: never): the same spec
// run by two instances would otherwise complete from the other's record.
func Spec(name string, module cid.Cid, inputs []cid.Cid) *jobspec.Spec {
	s := &jobspec.Spec{
		Name:         name,
		Reuse:        jobspec.ReuseNever,
		Engine:       jobspec.Engine{Wasm: &jobspec.Wasm{Module: module}},
		Resources:    JobResources,
		Timeout:      time.Minute,
		QueueTimeout: 3 * time.Minute,
	}
	for i, c := range inputs {
		s.Inputs = append(s.Inputs, jobspec.Input{CID: c, Path: fmt.Sprintf("/in/%d", i)})
	}
	return s
}

// Outcome is a finished job as the requester saw it.
type Outcome struct {
	ID        string
	Job       *market.Job
	Submitted time.Time
	Latency   time.Duration // submission to terminal state
	Executor  string        // executor of the first receipt
}

// Completed reports whether the job completed with exactly one receipt.
func (o *Outcome) Completed() bool {
	return o.Job != nil && o.Job.State == market.Completed && len(o.Job.Receipts) >= 1
}

// RunJob submits spec and waits for its terminal state or ctx's end.
func (n *Node) RunJob(ctx context.Context, spec *jobspec.Spec) (*Outcome, error) {
	start := time.Now()
	id, _, err := n.Market.Submit(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", spec.Name, err)
	}
	o := &Outcome{ID: id.String(), Submitted: start}
	j, err := n.WaitJob(ctx, o.ID)
	o.Latency = time.Since(start)
	o.Job = j
	if j != nil && len(j.Receipts) > 0 {
		o.Executor = j.Receipts[0].Executor
	}
	return o, err
}

// WaitJob waits until job id is terminal (event-driven) and returns its
// record.
func (n *Node) WaitJob(ctx context.Context, id string) (*market.Job, error) {
	for {
		ch, j, cancel, err := n.Market.Jobs().Watch(id)
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			cancel()
			return j, nil
		}
		for open := true; open; {
			select {
			case <-ctx.Done():
				cancel()
				j, _ := n.Market.Jobs().Get(id)
				return j, fmt.Errorf("job %s still %s: %w", id, stateOf(j), ctx.Err())
			case _, open = <-ch:
			}
		}
		cancel()
		if j, err := n.Market.Jobs().Get(id); err == nil && j.State.Terminal() {
			return j, nil
		}
	}
}

func stateOf(j *market.Job) string {
	if j == nil {
		return "unknown"
	}
	return string(j.State)
}

// RunMany runs jobs with at most conc in flight and returns their outcomes
// in submission order. A job that cannot be submitted, or does not end
// before ctx does, has an outcome with a nil or non-terminal Job.
func (n *Node) RunMany(ctx context.Context, specs []*jobspec.Spec, conc int) []*Outcome {
	out := make([]*Outcome, len(specs))
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for i, s := range specs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			out[i] = &Outcome{Submitted: time.Now()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, _ := n.RunJob(ctx, s)
			if o == nil {
				o = &Outcome{Submitted: time.Now()}
			}
			out[i] = o
		}()
	}
	wg.Wait()
	return out
}

// Quantile returns the q-quantile (0..1) of ds, or 0 without samples.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}

// Ms is d in milliseconds as a float.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// PeerIDs decodes the IDs of the instances with these indices.
func (n *Node) PeerIDs(indices []int) ([]peer.ID, error) {
	var out []peer.ID
	for _, i := range indices {
		id, err := peer.Decode(n.Peers[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// LogJob records the job's event log as messages (for a job that failed).
func (n *Node) LogJob(id string) {
	j, err := n.Market.Jobs().Get(id)
	if err != nil {
		n.Env.RecordMessage("job %s: %v", id, err)
		return
	}
	for _, e := range j.Events {
		n.Env.RecordMessage("job %s: %s %s %s", short(id), e.Time.Format("15:04:05.000"), e.Type, e.Message)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[len(s)-12:]
	}
	return s
}
