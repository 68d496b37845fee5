// Package jobspec defines Shoal's job spec: the YAML/JSON document a user
// writes, its validation, and its canonical dag-cbor encoding whose CID is
// the job ID.
//
// A Spec returned by Parse or Decode is normalized: defaults are filled in,
// CIDv0 links are upgraded to CIDv1, set-like lists (inputs, outputs,
// executor peers and orgs) are sorted, and empty lists and maps are nil.
// Two documents that mean the same job therefore encode to the same bytes
// and get the same job ID. The defaults are part of spec version 1 and
// never change within it.
//
// The package is pure: it does no I/O beyond its arguments and must not
// import node, p2p, content or exec.
package jobspec

import (
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Version is the only spec version this package reads and writes.
const Version = 1

// Type says how many nodes run a job.
type Type string

const (
	// Batch jobs run on Count nodes (default 1).
	Batch Type = "batch"
	// Ops jobs run on every eligible node that bids within the bid window
	// (at most Count of them when Count > 0).
	Ops Type = "ops"
)

// Locality says how much the requester cares that the executor already
// holds the job's inputs.
type Locality string

const (
	// Required: only nodes that hold every input in full may bid.
	Required Locality = "required"
	// Preferred (default): bids are ranked by the share of input bytes held.
	Preferred Locality = "preferred"
	// Anywhere: locality is ignored when ranking bids.
	Anywhere Locality = "anywhere"
)

// Engine names as they appear in the spec and in node capabilities.
const (
	EngineWasm   = "wasm"
	EngineDocker = "docker"
)

// Defaults of spec version 1. A field equal to its default is omitted from
// the canonical encoding.
const (
	DefaultType         = Batch
	DefaultCount        = 1 // for batch jobs; ops jobs default to 0 (every bidder)
	DefaultOutput       = "/outputs"
	DefaultTimeout      = 10 * time.Minute
	DefaultQueueTimeout = 5 * time.Minute
	DefaultLocality     = Preferred
	DefaultEntrypoint   = "_start" // wasm: the WASI command entry point
	DefaultMilliCPU     = 1000     // 1 core
	DefaultMemory       = 256 << 20
	DefaultDisk         = 1 << 30
)

// Limits of spec version 1.
const (
	MaxBlockSize    = 1 << 20 // encoded spec block, bytes
	MaxDocumentSize = 1 << 20 // YAML/JSON document, bytes
	MaxNameLen      = 128
	MaxCount        = 1024
	MaxInputs       = 256
	MaxOutputs      = 64
	MaxPathLen      = 1024
	MaxArgs         = 256
	MaxArgLen       = 4096
	MaxEnv          = 128
	MaxEnvLen       = 4096 // key plus value
	MaxLabels       = 32
	MaxLabelKeyLen  = 63
	MaxLabelValLen  = 128
	MaxPeers        = 256
	MaxOrgs         = 32
	MaxOrgLen       = 64
	MaxImageLen     = 255
	MaxCIDLen       = 128 // bytes of a binary CID
	MaxMilliCPU     = 1024 * 1000
	MaxMemory       = 1 << 40 // 1 TiB
	MaxDisk         = 1 << 44 // 16 TiB
	MaxTimeout      = 7 * 24 * time.Hour
	MaxQueueTimeout = 24 * time.Hour
)

// Spec is a job spec. Use Parse or Decode to obtain a normalized, valid one;
// a Spec built in code is normalized by Encode.
type Spec struct {
	// Name is a free-form label for humans; it changes the job ID.
	Name string
	// Type is Batch or Ops.
	Type Type
	// Count is how many nodes run a batch job (default 1), or the maximum
	// number of nodes for an ops job (0, the default, means all bidders).
	Count int
	// Engine says what to run; exactly one of its fields is set.
	Engine Engine
	// Inputs are mounted read-only at their paths, sorted by path.
	Inputs []Input
	// Outputs are the directories captured after the run, sorted.
	// Default ["/outputs"].
	Outputs []string
	// Resources the job needs; the executor enforces them as limits.
	Resources Resources
	// Timeout bounds the run itself (default 10m).
	Timeout time.Duration
	// QueueTimeout bounds how long the requester looks for an executor
	// (default 5m).
	QueueTimeout time.Duration
	// Constraints restrict which nodes may run the job.
	Constraints Constraints
	// Reuse says whether the requester may take a receipt of this job
	// that the network already holds instead of running it (default
	// ReuseTrusted). It also sets the default of engine.wasm.deterministic.
	Reuse Reuse
	// Publish lists where the outputs also go once pinned (remote.go).
	Publish []Publish
	// Secrets names environment variables whose values the requester
	// gives at submission; they travel only in the award, sealed to the
	// executor, never in the spec (see secrets.go). Sorted.
	Secrets []string
	// Verify, when set, runs the job on several executors and accepts
	// only a result a quorum of them agree on (verify.go).
	Verify *Verify
	// Partition, when set, makes the job a partitioned one: one task per
	// shard, each an ordinary job of its own (partition.go).
	Partition *Partition
}

// Reuse says whether a job's result may come from an earlier run of the
// same job (a receipt published under its job ID).
type Reuse string

const (
	// ReuseTrusted (default): a deterministic job reuses a successful
	// receipt of the same job ID whose executor the requester trusts.
	ReuseTrusted Reuse = "trusted"
	// ReuseNever: the job always runs afresh; its executor publishes no
	// receipt record for it, and a wasm module's clocks are the host's
	// unless engine.wasm.deterministic says otherwise.
	ReuseNever Reuse = "never"
)

// DefaultReuse is the reuse of a spec that sets none.
const DefaultReuse = ReuseTrusted

// Deterministic reports whether the job's engine runs it deterministically
// (docs/jobspec.md): a wasm job unless engine.wasm.deterministic is false
// or (when it is unset) reuse is never and verify is unset; a docker job only when
// engine.docker.deterministic is true (the image's author vouches).
func (s *Spec) Deterministic() bool {
	switch {
	case s.Engine.Wasm != nil:
		if d := s.Engine.Wasm.Deterministic; d != nil {
			return *d
		}
		return s.wasmDeterministicDefault()
	case s.Engine.Docker != nil:
		return s.Engine.Docker.Deterministic
	}
	return false
}

// wasmDeterministicDefault is engine.wasm.deterministic when unset: true
// unless reuse is never, and always for a verified job (its replicas are
// compared).
func (s *Spec) wasmDeterministicDefault() bool {
	return s.Reuse != ReuseNever || s.Verify != nil
}

// Engine holds exactly one engine.
type Engine struct {
	Wasm   *Wasm
	Docker *Docker
}

// Kind returns "wasm", "docker", or "" when no engine is set.
func (e Engine) Kind() string {
	switch {
	case e.Wasm != nil:
		return EngineWasm
	case e.Docker != nil:
		return EngineDocker
	}
	return ""
}

// Wasm runs a WebAssembly (WASI preview 1) module.
type Wasm struct {
	// Module is the CID of the .wasm bytes.
	Module cid.Cid
	// Entrypoint is the exported function to call (default "_start").
	Entrypoint string
	Args       []string
	Env        map[string]string
	// Deterministic, when set, says whether the module runs with fixed
	// clocks and a random source seeded by the job ID; nil (the canonical
	// form of the default) means true unless the spec's reuse is never.
	// See Spec.Deterministic.
	Deterministic *bool
}

// Docker runs a container image.
type Docker struct {
	// Image is an image reference ("alpine:3.20"); exclusive with ImageCID.
	Image string
	// ImageCID is the CID of a `docker save` tarball; exclusive with Image.
	ImageCID cid.Cid
	// Entrypoint overrides the image's entrypoint when non-empty.
	Entrypoint []string
	Args       []string
	Env        map[string]string
	// Deterministic says the image gives the same outputs for the same
	// inputs (default false): Shoal cannot make a container deterministic,
	// so this is the image author's promise, and makes the job's result
	// reusable (Spec.Reuse).
	Deterministic bool
}

// Input mounts the content of CID read-only at Path, or, for a remote
// input (exactly one of URL and S3 set, CID undefined), what the executor
// downloads from there and imports as UnixFS (remote.go).
type Input struct {
	CID  cid.Cid
	URL  string
	S3   *S3Object
	Path string
}

// Resources a job needs. Zero fields mean "the default".
type Resources struct {
	// MilliCPU is thousandths of a core (1000 = one core). The spec writes
	// cores: `cpu: 0.5` or `cpu: "500m"`.
	MilliCPU int64
	// Memory in bytes.
	Memory int64
	// Disk in bytes: scratch and output space.
	Disk int64
}

// Fits reports whether r fits within capacity c in every dimension.
func (r Resources) Fits(c Resources) bool {
	return r.MilliCPU <= c.MilliCPU && r.Memory <= c.Memory && r.Disk <= c.Disk
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, Memory: r.Memory + o.Memory, Disk: r.Disk + o.Disk}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, Memory: r.Memory - o.Memory, Disk: r.Disk - o.Disk}
}

// Constraints restrict where a job runs.
type Constraints struct {
	// Labels must all be present, with equal values, on the executor.
	Labels map[string]string
	// Locality (default Preferred).
	Locality Locality
	// Executors, when non-empty, restricts the executor set.
	Executors Executors
}

// Executors lists who may execute a job: a peer is eligible if it is listed
// in Peers or belongs to one of Orgs. Both empty means anyone.
type Executors struct {
	Orgs  []string
	Peers []peer.ID
}

// Empty reports whether no restriction is set.
func (e Executors) Empty() bool { return len(e.Orgs) == 0 && len(e.Peers) == 0 }

// InputCIDs returns the CIDs of the inputs, in input order, without
// duplicates. Remote inputs (URL, S3) have none and are left out.
func (s *Spec) InputCIDs() []cid.Cid {
	out := make([]cid.Cid, 0, len(s.Inputs))
	seen := make(map[cid.Cid]bool, len(s.Inputs))
	for _, in := range s.Inputs {
		if in.CID.Defined() && !seen[in.CID] {
			seen[in.CID] = true
			out = append(out, in.CID)
		}
	}
	return out
}

// ContentCIDs returns every CID the job needs: the wasm module or docker
// image tarball first (when set), then the inputs, without duplicates.
func (s *Spec) ContentCIDs() []cid.Cid {
	var out []cid.Cid
	switch {
	case s.Engine.Wasm != nil && s.Engine.Wasm.Module.Defined():
		out = append(out, s.Engine.Wasm.Module)
	case s.Engine.Docker != nil && s.Engine.Docker.ImageCID.Defined():
		out = append(out, s.Engine.Docker.ImageCID)
	}
	for _, c := range s.InputCIDs() {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Clone returns a deep copy of s.
func (s *Spec) Clone() *Spec {
	c := *s
	if s.Engine.Wasm != nil {
		w := *s.Engine.Wasm
		w.Args = slices.Clone(w.Args)
		w.Env = cloneMap(w.Env)
		if w.Deterministic != nil {
			d := *w.Deterministic
			w.Deterministic = &d
		}
		c.Engine.Wasm = &w
	}
	if s.Engine.Docker != nil {
		d := *s.Engine.Docker
		d.Entrypoint = slices.Clone(d.Entrypoint)
		d.Args = slices.Clone(d.Args)
		d.Env = cloneMap(d.Env)
		c.Engine.Docker = &d
	}
	c.Inputs = cloneInputs(s.Inputs)
	c.Publish = clonePublish(s.Publish)
	c.Outputs = slices.Clone(s.Outputs)
	c.Secrets = slices.Clone(s.Secrets)
	if s.Verify != nil {
		v := *s.Verify
		c.Verify = &v
	}
	c.Partition = clonePartition(s.Partition)
	c.Constraints.Labels = cloneMap(s.Constraints.Labels)
	c.Constraints.Executors.Orgs = slices.Clone(s.Constraints.Executors.Orgs)
	c.Constraints.Executors.Peers = slices.Clone(s.Constraints.Executors.Peers)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Normalize fills in defaults and puts s in canonical form in place:
// CIDv0 links become CIDv1 (same multihash, dag-pb), inputs are sorted by
// path, outputs, orgs and peers are sorted, and empty lists and maps become
// nil. It does not validate.
func (s *Spec) Normalize() {
	s.fillDefaults()
	s.sortSets()
}

// fillDefaults sets defaults and canonical values without reordering
// anything, so validation errors can name indices of the document.
func (s *Spec) fillDefaults() {
	if s.Type == "" {
		s.Type = DefaultType
	}
	if s.Count == 0 && s.Type == Batch {
		s.Count = DefaultCount
	}
	if w := s.Engine.Wasm; w != nil {
		w.Module = toV1(w.Module)
		if w.Entrypoint == "" {
			w.Entrypoint = DefaultEntrypoint
		}
		w.Args = nilIfEmpty(w.Args)
		w.Env = nilIfEmptyMap(w.Env)
	}
	if s.Reuse == "" {
		s.Reuse = DefaultReuse
	}
	if s.Verify != nil {
		s.Verify.fillDefaults()
	}
	if w := s.Engine.Wasm; w != nil && w.Deterministic != nil && *w.Deterministic == s.wasmDeterministicDefault() {
		w.Deterministic = nil // the default, in its canonical form
	}
	if d := s.Engine.Docker; d != nil {
		d.ImageCID = toV1(d.ImageCID)
		d.Entrypoint = nilIfEmpty(d.Entrypoint)
		d.Args = nilIfEmpty(d.Args)
		d.Env = nilIfEmptyMap(d.Env)
	}
	for i := range s.Inputs {
		s.Inputs[i].CID = toV1(s.Inputs[i].CID)
	}
	if len(s.Inputs) == 0 {
		s.Inputs = nil
	}
	if len(s.Publish) == 0 {
		s.Publish = nil
	}
	if len(s.Outputs) == 0 {
		s.Outputs = []string{DefaultOutput}
	}
	s.Secrets = nilIfEmpty(s.Secrets)
	if s.Partition != nil {
		s.Partition.fillDefaults()
	}
	if s.Resources.MilliCPU == 0 {
		s.Resources.MilliCPU = DefaultMilliCPU
	}
	if s.Resources.Memory == 0 {
		s.Resources.Memory = DefaultMemory
	}
	if s.Resources.Disk == 0 {
		s.Resources.Disk = DefaultDisk
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.QueueTimeout == 0 {
		s.QueueTimeout = DefaultQueueTimeout
	}
	if s.Constraints.Locality == "" {
		s.Constraints.Locality = DefaultLocality
	}
	s.Constraints.Labels = nilIfEmptyMap(s.Constraints.Labels)
	ex := &s.Constraints.Executors
	ex.Orgs = nilIfEmpty(ex.Orgs)
	if len(ex.Peers) == 0 {
		ex.Peers = nil
	}
}

// sortSets sorts the lists whose order carries no meaning.
func (s *Spec) sortSets() {
	slices.SortStableFunc(s.Inputs, func(a, b Input) int { return strings.Compare(a.Path, b.Path) })
	slices.Sort(s.Outputs)
	sortPublish(s.Publish)
	slices.Sort(s.Secrets)
	slices.Sort(s.Constraints.Executors.Orgs)
	slices.Sort(s.Constraints.Executors.Peers)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func toV1(c cid.Cid) cid.Cid {
	if c.Defined() && c.Version() == 0 {
		return cid.NewCidV1(cid.DagProtobuf, c.Hash())
	}
	return c
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
