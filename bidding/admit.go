package bidding

import (
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// NodeView is what admission needs to know about the bidding node. It is
// read-only; implementations answer from the node's current state
// (StaticView is a plain-struct one for tests and simulations).
type NodeView interface {
	// ID is the node's peer ID.
	ID() peer.ID
	// Engines lists the engines the node runs ("wasm", "docker").
	Engines() []string
	// Labels are the node's labels, matched against constraints.labels.
	Labels() map[string]string
	// Capacity is the most the node ever gives to one job.
	Capacity() jobspec.Resources
	// Free is what running jobs leave free now.
	Free() jobspec.Resources
	// FreeSlots is how many more jobs could start now.
	FreeSlots() int
	// QueueDepth is how many accepted jobs wait for a slot.
	QueueDepth() int
	// QueueLimit is the most jobs the node lets wait (0: no limit).
	QueueLimit() int
	// EstimatedWait is how long a job queued now would wait for a slot.
	EstimatedWait() time.Duration
	// LocalBytes returns how many bytes of the DAG rooted at c the node
	// holds, and the DAG's total size. total is 0 when the node cannot size
	// the DAG (it lacks the root); held <= total otherwise.
	LocalBytes(c cid.Cid) (held, total int64)
	// MaxInputBytes is the largest total content size the node accepts
	// (0: no limit).
	MaxInputBytes() int64
	// HeldImport returns the root and size of the content the node
	// imported from the url input in and still holds in full (pinned), or
	// cid.Undef when it has none. It answers from memory. The root is a
	// hint for placement only: the executor asks the server again
	// (If-None-Match) before it uses the import.
	HeldImport(in jobspec.Input) (root cid.Cid, size int64)
}

// Offer is what admission lets a node bid: the fields of a Bid.
type Offer struct {
	LocalBytes     int64
	TotalBytes     int64
	FreeSlots      int
	QueueDepth     int
	EstStart       time.Duration
	ReservationTTL time.Duration
}

// Admit decides whether the node described by view bids on job. It returns
// the offer to put in the Bid, or a *Refusal whose Code goes in a Decline.
//
// The checks, in order: constraints.executors (only a peers list can be
// checked here; orgs are the requester's to check), engine, labels,
// resources against the node's total Capacity (a job the node could never
// run is refused; a job that only has to wait is offered with the queue
// depth, so bursts queue instead of failing), total content size against
// MaxInputBytes, locality "required" (every CID input held in full), and a
// full queue. Locality bytes count the inputs only: the module or image is
// fetched once and cached, the data is what is worth moving compute to, and
// a job without inputs is stateless (every idle bidder is fully local). A
// url input counts the size of the node's earlier import of the same URL
// (HeldImport), held and total alike; an input whose root is already
// counted (another input of the same content) counts once. s3 inputs count
// nowhere (every executor downloads them again).
// Requester policy (allow-lists) is checked by the caller before Admit,
// with CodePolicyDenied.
func Admit(job *jobspec.Spec, view NodeView) (Offer, error) {
	if ex := job.Constraints.Executors; len(ex.Peers) > 0 && len(ex.Orgs) == 0 && !slices.Contains(ex.Peers, view.ID()) {
		return Offer{}, refuse(CodeNotEligible, "the job lists its executors and %s is not one of them", view.ID())
	}
	kind := job.Engine.Kind()
	if !slices.Contains(view.Engines(), kind) {
		return Offer{}, refuse(CodeEngineUnavailable, "engine %q not available here (have %v)", kind, view.Engines())
	}
	labels := view.Labels()
	for _, k := range sortedKeys(job.Constraints.Labels) {
		want := job.Constraints.Labels[k]
		if got, ok := labels[k]; !ok || got != want {
			return Offer{}, refuse(CodeLabelsMismatch, "label %s=%q required, node has %q", k, want, got)
		}
	}
	need, capacity := job.Resources, view.Capacity()
	if !need.Fits(capacity) {
		return Offer{}, refuse(CodeResourcesExceeded, "job needs %s, node offers at most %s", fmtRes(need), fmtRes(capacity))
	}
	var local, total int64
	counted := make(map[cid.Cid]bool, len(job.Inputs))
	for _, c := range job.InputCIDs() {
		counted[c] = true
		h, t := view.LocalBytes(c)
		local += min(max(h, 0), max(t, 0))
		total += max(t, 0)
	}
	for _, in := range job.Inputs {
		if in.URL == "" {
			continue
		}
		if root, size := view.HeldImport(in); root.Defined() && size > 0 && !counted[root] {
			counted[root] = true
			local += size
			total += size
		}
	}
	if limit := view.MaxInputBytes(); limit > 0 && total > limit {
		return Offer{}, refuse(CodeInputTooLarge, "content of %s exceeds this node's limit of %s", jobspec.FormatSize(total), jobspec.FormatSize(limit))
	}
	if job.Constraints.Locality == jobspec.Required {
		for _, in := range job.Inputs {
			if in.Remote() {
				// "required" promises that no input moves. An imported URL
				// may have changed at its server (the executor asks again
				// and downloads it if so), so no node can promise that for
				// it: required constrains the CID inputs only.
				continue
			}
			if h, t := view.LocalBytes(in.CID); t <= 0 || h < t {
				return Offer{}, refuse(CodeLocalityRequired, "locality required and input %s at %s is not held here in full", in.CID, in.Path)
			}
		}
	}
	o := Offer{LocalBytes: local, TotalBytes: total, QueueDepth: view.QueueDepth()}
	if view.FreeSlots() > 0 && need.Fits(view.Free()) {
		o.FreeSlots = view.FreeSlots()
	} else {
		if limit := view.QueueLimit(); limit > 0 && o.QueueDepth >= limit {
			return Offer{}, refuse(CodeNoCapacity, "queue full (%d jobs waiting)", o.QueueDepth)
		}
		o.EstStart = min(max(view.EstimatedWait(), 0), MaxEstStart)
	}
	return o, nil
}

func fmtRes(r jobspec.Resources) string {
	return fmt.Sprintf("cpu %s, memory %s, disk %s", jobspec.FormatCPU(r.MilliCPU), jobspec.FormatSize(r.Memory), jobspec.FormatSize(r.Disk))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// StaticView is a NodeView made of plain fields, for tests and simulations.
// Each field answers the NodeView method of the same meaning.
type StaticView struct {
	Peer       peer.ID
	EngineList []string
	LabelSet   map[string]string
	Total      jobspec.Resources
	Available  jobspec.Resources
	Slots      int
	Queued     int
	MaxQueue   int
	Wait       time.Duration
	Held       map[cid.Cid][2]int64 // CID -> {held, total}
	Imports    map[string]Import    // url -> the import of it held here
	InputLimit int64
}

// Import is an earlier import of a url input that a StaticView holds.
type Import struct {
	Root cid.Cid
	Size int64
}

var _ NodeView = (*StaticView)(nil)

// ID implements NodeView.
func (v *StaticView) ID() peer.ID { return v.Peer }

// Engines implements NodeView.
func (v *StaticView) Engines() []string { return v.EngineList }

// Labels implements NodeView.
func (v *StaticView) Labels() map[string]string { return v.LabelSet }

// Capacity implements NodeView.
func (v *StaticView) Capacity() jobspec.Resources { return v.Total }

// Free implements NodeView.
func (v *StaticView) Free() jobspec.Resources { return v.Available }

// FreeSlots implements NodeView.
func (v *StaticView) FreeSlots() int { return v.Slots }

// QueueDepth implements NodeView.
func (v *StaticView) QueueDepth() int { return v.Queued }

// QueueLimit implements NodeView.
func (v *StaticView) QueueLimit() int { return v.MaxQueue }

// EstimatedWait implements NodeView.
func (v *StaticView) EstimatedWait() time.Duration { return v.Wait }

// MaxInputBytes implements NodeView.
func (v *StaticView) MaxInputBytes() int64 { return v.InputLimit }

// LocalBytes implements NodeView.
func (v *StaticView) LocalBytes(c cid.Cid) (held, total int64) {
	h := v.Held[c]
	return h[0], h[1]
}

// HeldImport implements NodeView.
func (v *StaticView) HeldImport(in jobspec.Input) (cid.Cid, int64) {
	if in.URL == "" {
		return cid.Undef, 0
	}
	im, ok := v.Imports[in.URL]
	if !ok {
		return cid.Undef, 0
	}
	return im.Root, im.Size
}
