package jobspec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Encode normalizes a copy of s, validates it and encodes it as a canonical
// dag-cbor block. The CID of the block (CIDv1, dag-cbor, sha2-256) is the
// job ID. The same job always gives the same bytes: defaults are omitted,
// sets are sorted, map keys follow dag-cbor order and CIDs are tag-42
// links. See docs/jobspec.md for the block schema.
func Encode(s *Spec) ([]byte, cid.Cid, error) {
	c := s.Clone()
	c.Normalize()
	if err := c.validate(); err != nil {
		return nil, cid.Undef, err
	}
	block, err := c.toMap().Encode()
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("encode spec: %w", err)
	}
	if len(block) > MaxBlockSize {
		return nil, cid.Undef, fmt.Errorf("%w: spec encodes to %d bytes, limit %d; move large arguments or environment into an input file", ErrTooLarge, len(block), MaxBlockSize)
	}
	return block, dag.CID(block), nil
}

// JobID returns the job ID of s: the CID of its canonical encoding.
func JobID(s *Spec) (cid.Cid, error) {
	_, c, err := Encode(s)
	return c, err
}

// Decode reads a spec block (at most MaxBlockSize bytes) strictly: unknown
// fields, wrong kinds, an unsupported version, invalid values and any
// encoding that differs from what Encode would write (unsorted keys or
// sets, explicit defaults, CIDv0 links, non-minimal integers) are errors.
// The returned spec is normalized and valid.
func Decode(block []byte) (*Spec, error) {
	if len(block) > MaxBlockSize {
		return nil, fmt.Errorf("decode spec: %w: block of %d bytes, limit %d", ErrTooLarge, len(block), MaxBlockSize)
	}
	n, err := dag.Decode(block, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("decode spec: %w: %w", ErrSyntax, err)
	}
	s, err := fromNode(n)
	if err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	s.Normalize()
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	again, err := s.toMap().Encode()
	if err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	if !bytes.Equal(again, block) {
		return nil, fmt.Errorf("decode spec: %w", ErrNonCanonical)
	}
	return s, nil
}

func defaultCount(t Type) int {
	if t == Ops {
		return 0
	}
	return DefaultCount
}

// toMap builds the canonical map of a normalized spec.
func (s *Spec) toMap() *dag.Map {
	m := dag.NewMap()
	m.IntAlways("version", Version)
	m.Str("name", s.Name)
	if s.Type != DefaultType {
		m.Str("type", string(s.Type))
	}
	if s.Count != defaultCount(s.Type) {
		m.IntAlways("count", int64(s.Count))
	}
	eng := dag.NewMap()
	if w := s.Engine.Wasm; w != nil {
		wm := dag.NewMap()
		wm.Link("module", w.Module)
		if w.Entrypoint != DefaultEntrypoint {
			wm.Str("entrypoint", w.Entrypoint)
		}
		wm.Strs("args", w.Args)
		wm.StrMap("env", w.Env)
		if w.Deterministic != nil {
			wm.Bool("deterministic", *w.Deterministic)
		}
		eng.Node("wasm", wm.Build())
	}
	if d := s.Engine.Docker; d != nil {
		dm := dag.NewMap()
		dm.Str("image", d.Image)
		dm.Link("image_cid", d.ImageCID)
		dm.Strs("entrypoint", d.Entrypoint)
		dm.Strs("args", d.Args)
		dm.StrMap("env", d.Env)
		if d.Deterministic {
			dm.Bool("deterministic", true)
		}
		eng.Node("docker", dm.Build())
	}
	m.Node("engine", eng.Build())
	inputs := make([]*dag.Map, len(s.Inputs))
	for i, in := range s.Inputs {
		im := dag.NewMap()
		putInputSource(im, in)
		im.Str("path", in.Path)
		inputs[i] = im
	}
	m.Maps("inputs", inputs)
	if len(s.Outputs) != 1 || s.Outputs[0] != DefaultOutput {
		m.Strs("outputs", s.Outputs)
	}
	m.Strs("secrets", s.Secrets) // names only; omitted when none
	res := dag.NewMap()
	if s.Resources.MilliCPU != DefaultMilliCPU {
		res.Int("millicpu", s.Resources.MilliCPU)
	}
	if s.Resources.Memory != DefaultMemory {
		res.Int("memory", s.Resources.Memory)
	}
	if s.Resources.Disk != DefaultDisk {
		res.Int("disk", s.Resources.Disk)
	}
	m.Sub("resources", res)
	if s.Timeout != DefaultTimeout {
		m.Int("timeout_ms", s.Timeout.Milliseconds())
	}
	if s.QueueTimeout != DefaultQueueTimeout {
		m.Int("queue_timeout_ms", s.QueueTimeout.Milliseconds())
	}
	cons := dag.NewMap()
	cons.StrMap("labels", s.Constraints.Labels)
	if s.Constraints.Locality != DefaultLocality {
		cons.Str("locality", string(s.Constraints.Locality))
	}
	ex := dag.NewMap()
	ex.Strs("orgs", s.Constraints.Executors.Orgs)
	peers := make([][]byte, len(s.Constraints.Executors.Peers))
	for i, p := range s.Constraints.Executors.Peers {
		peers[i] = []byte(p)
	}
	ex.BytesList("peers", peers)
	cons.Sub("executors", ex)
	m.Sub("constraints", cons)
	if s.Reuse != DefaultReuse {
		m.Str("reuse", string(s.Reuse))
	}
	m.Maps("publish", publishMaps(s.Publish))
	if v := s.Verify; v != nil {
		vm := dag.NewMap()
		vm.IntAlways("replicas", int64(v.Replicas))
		if v.Quorum != Majority(v.Replicas) {
			vm.IntAlways("quorum", int64(v.Quorum))
		}
		if v.Distinct != DefaultDistinct {
			vm.Str("distinct", string(v.Distinct))
		}
		m.Node("verify", vm.Build())
	}
	putPartition(m, s.Partition)
	return m
}

// fromNode reads a decoded block into a spec, without normalizing.
func fromNode(n datamodel.Node) (*Spec, error) {
	r := dag.NewReader(n, "")
	s := &Spec{}
	if v := r.Int("version"); v != Version && !r.Failed() {
		return nil, &FieldError{Path: "version", Err: fmt.Errorf("%w: %d; this build reads version %d", ErrVersion, v, Version)}
	}
	s.Name = r.Str("name")
	s.Type = Type(r.Str("type"))
	if r.Has("count") {
		s.Count = int(r.Int("count"))
	}
	eng := r.Map("engine")
	if eng.Has("wasm") {
		wr := eng.Map("wasm")
		w := &Wasm{
			Module:     wr.Link("module"),
			Entrypoint: wr.Str("entrypoint"),
			Args:       wr.Strs("args", MaxArgs),
			Env:        wr.StrMap("env", MaxEnv),
		}
		if v, ok := wr.Bool("deterministic"); ok {
			w.Deterministic = &v
		}
		wr.Done()
		s.Engine.Wasm = w
	}
	if eng.Has("docker") {
		dr := eng.Map("docker")
		d := &Docker{
			Image:      dr.Str("image"),
			ImageCID:   dr.Link("image_cid"),
			Entrypoint: dr.Strs("entrypoint", MaxArgs),
			Args:       dr.Strs("args", MaxArgs),
			Env:        dr.StrMap("env", MaxEnv),
		}
		if v, ok := dr.Bool("deterministic"); ok {
			if !v {
				dr.Fail("deterministic", errors.New("false is the default and is omitted"))
			}
			d.Deterministic = v
		}
		dr.Done()
		s.Engine.Docker = d
	}
	eng.Done()
	r.List("inputs", MaxInputs, func(path string, item datamodel.Node) {
		ir := r.Sub(path, item)
		var in Input
		getInputSource(ir, &in)
		in.Path = ir.Str("path")
		s.Inputs = append(s.Inputs, in)
		ir.Done()
	})
	s.Outputs = r.Strs("outputs", MaxOutputs)
	s.Secrets = r.Strs("secrets", MaxSecrets)
	res := r.Map("resources")
	s.Resources = Resources{MilliCPU: res.Int("millicpu"), Memory: res.Int("memory"), Disk: res.Int("disk")}
	res.Done()
	var err error
	if r.Has("timeout_ms") {
		if s.Timeout, err = msToDuration(r.Int("timeout_ms")); err != nil {
			r.Fail("timeout_ms", err)
		}
	}
	if r.Has("queue_timeout_ms") {
		if s.QueueTimeout, err = msToDuration(r.Int("queue_timeout_ms")); err != nil {
			r.Fail("queue_timeout_ms", err)
		}
	}
	cons := r.Map("constraints")
	s.Constraints.Labels = cons.StrMap("labels", MaxLabels)
	s.Constraints.Locality = Locality(cons.Str("locality"))
	ex := cons.Map("executors")
	s.Constraints.Executors.Orgs = ex.Strs("orgs", MaxOrgs)
	for i, b := range ex.BytesList("peers", MaxPeers) {
		id, err := peer.IDFromBytes(b)
		if err != nil {
			ex.FailPath(dag.Index("constraints.executors.peers", i), fmt.Errorf("peer ID: %w", err))
			break
		}
		s.Constraints.Executors.Peers = append(s.Constraints.Executors.Peers, id)
	}
	ex.Done()
	cons.Done()
	s.Reuse = Reuse(r.Str("reuse"))
	readPublish(r, s)
	if r.Has("verify") {
		vr := r.Map("verify")
		v := &Verify{Replicas: int(vr.Int("replicas")), Distinct: Distinct(vr.Str("distinct"))}
		if vr.Has("quorum") {
			v.Quorum = int(vr.Int("quorum"))
		}
		vr.Done()
		s.Verify = v
	}
	readPartition(r, s)
	if err := r.Err(); err != nil {
		return nil, convertDagError(err)
	}
	return s, nil
}

func convertDagError(err error) error {
	var fe *dag.FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if errors.Is(fe.Err, dag.ErrUnknownField) {
		return &FieldError{Path: fe.Path, Err: ErrUnknownField}
	}
	return &FieldError{Path: fe.Path, Err: fmt.Errorf("%w: %w", ErrInvalid, fe.Err)}
}
