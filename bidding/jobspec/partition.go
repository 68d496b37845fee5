package jobspec

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// PartitionBy says how a partitioned job is split into tasks.
type PartitionBy string

const (
	// ByEntry: one task per entry of the directory input mounted at
	// Partition.Input; each task sees only its entry, at
	// <Partition.Input>/<name>.
	ByEntry PartitionBy = "entry"
	// ByInput: one task per listed input, each task seeing only its own.
	ByInput PartitionBy = "input"
)

// Defaults and limits of a partition (spec version 1).
const (
	// DefaultPartitionInput is the directory input a by: entry job splits
	// when partition.input is not set.
	DefaultPartitionInput = "/inputs"
	// DefaultRetries is how many times a failed task runs again (on
	// another node) before the job fails.
	DefaultRetries = 1
	// MaxRetries bounds partition.retries.
	MaxRetries = 10
	// MaxPartitionTasks bounds the tasks of one partitioned job (and so
	// partition.max_parallel): a bigger dataset is split into
	// sub-directories, one partitioned job each.
	MaxPartitionTasks = 4096
)

// Environment variables every task of a partitioned job gets (WASM and
// Docker alike). The spec may not set them itself.
const (
	EnvPartitionIndex = "SHOAL_PARTITION_INDEX" // the task's index, 0-based
	EnvPartitionCount = "SHOAL_PARTITION_COUNT" // how many tasks the job has
	EnvJobID          = "SHOAL_JOB_ID"          // the partitioned (parent) job's ID
)

// Partition makes a job a partitioned one: a parent record on its
// requester whose tasks are ordinary jobs, each with its own spec
// (Spec.Task), placed independently on the holders of their shards.
type Partition struct {
	By PartitionBy
	// Input is the path of the directory input that a by: entry job
	// splits (default DefaultPartitionInput); empty for by: input.
	Input string
	// MaxParallel bounds the tasks in flight at once (0, the default:
	// all of them).
	MaxParallel int
	// Retries is how many times a failed task runs again on another node
	// before the job fails; nil (the canonical form of the default) means
	// DefaultRetries. See RetryCount.
	Retries *int
}

// RetryCount returns the number of retries of a failed task.
func (p *Partition) RetryCount() int {
	if p == nil || p.Retries == nil {
		return DefaultRetries
	}
	return *p.Retries
}

// Shard is one part of a partitioned job's data: the input its task sees.
type Shard struct {
	// Name is the directory entry's name (by: entry) or the input's path
	// (by: input).
	Name string
	// Input is what the task mounts, at its final path.
	Input Input
}

// DirEntry is an entry of a directory input: its name and CID, as the
// directory's own blocks list them (the entry itself is not read).
type DirEntry struct {
	Name string
	CID  cid.Cid
}

// PartitionInput returns the input a by: entry job splits, and whether
// there is one.
func (s *Spec) PartitionInput() (Input, bool) {
	if s.Partition == nil || s.Partition.By != ByEntry {
		return Input{}, false
	}
	for _, in := range s.Inputs {
		if in.Path == s.Partition.Input {
			return in, true
		}
	}
	return Input{}, false
}

// Shards lists the shards of a partitioned job in task order: for by:
// entry the directory's entries (entries, in the order the directory lists
// them), each mounted at <partition.input>/<name>; for by: input the
// spec's inputs, by path. It refuses an empty partition, more than
// MaxPartitionTasks shards and entry names that make no clean path.
func (s *Spec) Shards(entries []DirEntry) ([]Shard, error) {
	p := s.Partition
	if p == nil {
		return nil, fmt.Errorf("%w: the job has no partition", ErrInvalid)
	}
	var out []Shard
	switch p.By {
	case ByEntry:
		if len(entries) == 0 {
			return nil, fmt.Errorf("%w: the directory input at %s is empty: a by: entry job needs at least one entry", ErrInvalid, p.Input)
		}
		if len(entries) > MaxPartitionTasks {
			return nil, fmt.Errorf("%w: the directory input at %s has %d entries, limit %d tasks; split it into sub-directories", ErrTooLarge, p.Input, len(entries), MaxPartitionTasks)
		}
		for _, e := range entries {
			if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") || !utf8.ValidString(e.Name) {
				return nil, fmt.Errorf("%w: entry %q of the directory input at %s cannot be mounted: a task sees its entry at %s/<name>", ErrInvalid, e.Name, p.Input, p.Input)
			}
			if !e.CID.Defined() {
				return nil, fmt.Errorf("%w: entry %q of the directory input at %s has no CID", ErrInvalid, e.Name, p.Input)
			}
			out = append(out, Shard{Name: e.Name, Input: Input{CID: toV1(e.CID), Path: p.Input + "/" + e.Name}})
		}
	case ByInput:
		for _, in := range s.Inputs {
			c := in
			if c.S3 != nil {
				o := *c.S3
				c.S3 = &o
			}
			out = append(out, Shard{Name: in.Path, Input: c})
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: a by: input job needs at least one input", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: partition.by %q", ErrInvalid, p.By)
	}
	return out, nil
}

// Task returns the spec of task i of the partitioned job parent (whose ID
// is parentID) over shards: the parent's spec without its partition, with
// only shard i where the partitioned data was (for by: entry the other
// inputs stay), and the environment variables SHOAL_PARTITION_INDEX,
// SHOAL_PARTITION_COUNT and SHOAL_JOB_ID. The task is derived
// deterministically, so its job ID is too.
func (s *Spec) Task(parentID cid.Cid, shards []Shard, i int) (*Spec, error) {
	if s.Partition == nil {
		return nil, fmt.Errorf("%w: the job has no partition", ErrInvalid)
	}
	if i < 0 || i >= len(shards) {
		return nil, fmt.Errorf("%w: task %d of %d", ErrInvalid, i, len(shards))
	}
	t := s.Clone()
	t.Partition = nil
	switch s.Partition.By {
	case ByEntry:
		var ins []Input
		for _, in := range t.Inputs {
			if in.Path != s.Partition.Input {
				ins = append(ins, in)
			}
		}
		t.Inputs = append(ins, shards[i].Input)
	case ByInput:
		t.Inputs = []Input{shards[i].Input}
	}
	env := map[string]string{
		EnvPartitionIndex: strconv.Itoa(i),
		EnvPartitionCount: strconv.Itoa(len(shards)),
		EnvJobID:          parentID.String(),
	}
	switch {
	case t.Engine.Wasm != nil:
		t.Engine.Wasm.Env = mergeEnv(t.Engine.Wasm.Env, env)
	case t.Engine.Docker != nil:
		t.Engine.Docker.Env = mergeEnv(t.Engine.Docker.Env, env)
	}
	t.Name = taskName(s.Name, i)
	t.Normalize()
	if _, _, err := Encode(t); err != nil {
		return nil, fmt.Errorf("task %d (%s): %w", i, shards[i].Name, err)
	}
	return t, nil
}

func mergeEnv(a, b map[string]string) map[string]string {
	out := cloneMap(a)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// taskName is the name of task i: the parent's name and the index, within
// MaxNameLen.
func taskName(parent string, i int) string {
	suffix := "#" + strconv.Itoa(i)
	if parent == "" {
		parent = "task"
	}
	for len(parent)+len(suffix) > MaxNameLen {
		_, size := utf8.DecodeLastRuneInString(parent)
		parent = parent[:len(parent)-size]
	}
	return parent + suffix
}

// --- normalization, encoding ---

func (p *Partition) fillDefaults() {
	if p.By == ByEntry && p.Input == "" {
		p.Input = DefaultPartitionInput
	}
	if p.Retries != nil && *p.Retries == DefaultRetries {
		p.Retries = nil
	}
}

func clonePartition(p *Partition) *Partition {
	if p == nil {
		return nil
	}
	c := *p
	if p.Retries != nil {
		r := *p.Retries
		c.Retries = &r
	}
	return &c
}

func putPartition(m *dag.Map, p *Partition) {
	if p == nil {
		return
	}
	pm := dag.NewMap()
	pm.Str("by", string(p.By))
	if !(p.By == ByEntry && p.Input == DefaultPartitionInput) {
		pm.Str("input", p.Input)
	}
	pm.Int("max_parallel", int64(p.MaxParallel))
	if p.Retries != nil {
		pm.IntAlways("retries", int64(*p.Retries))
	}
	m.Node("partition", pm.Build())
}

func readPartition(r *dag.Reader, s *Spec) {
	if !r.Has("partition") {
		return
	}
	pr := r.Map("partition")
	p := &Partition{By: PartitionBy(pr.Str("by")), Input: pr.Str("input"), MaxParallel: int(pr.Int("max_parallel"))}
	if pr.Has("retries") {
		v := int(pr.Int("retries"))
		p.Retries = &v
	}
	pr.Done()
	s.Partition = p
}

// --- parsing ---

func (w *walker) partition(path string, n *docNode) *Partition {
	p := &Partition{}
	w.fields(path, n, map[string]func(string, *docNode){
		"by":           func(pth string, v *docNode) { w.str(pth, v, (*string)(&p.By)) },
		"input":        func(pth string, v *docNode) { w.str(pth, v, &p.Input) },
		"max_parallel": func(pth string, v *docNode) { w.integer(pth, v, &p.MaxParallel) },
		"retries": func(pth string, v *docNode) {
			var r int
			w.integer(pth, v, &r)
			p.Retries = &r
		},
	})
	return p
}

// --- validation ---

// reservedEnv are the variables a partitioned job's tasks get.
var reservedEnv = []string{EnvPartitionIndex, EnvPartitionCount, EnvJobID}

func (s *Spec) validatePartition(l *errList) {
	p := s.Partition
	if p == nil {
		return
	}
	switch p.By {
	case ByEntry:
		in, ok := s.PartitionInput()
		switch {
		case p.Input == "":
		case !ok:
			var paths []string
			for _, in := range s.Inputs {
				paths = append(paths, in.Path)
			}
			have := "the spec has no inputs"
			if len(paths) > 0 {
				have = "the inputs are at " + strings.Join(paths, ", ")
			}
			l.addf("partition.input", ErrInvalid, "%q is not the path of an input: by: entry splits the directory input mounted there (%s)", p.Input, have)
		case in.Remote():
			l.addf("partition.input", ErrInvalid, "the input at %s is a %s input: by: entry splits a directory given by CID (add it with shoal add, or build it with shoal dir make)", p.Input, remoteKind(in))
		}
	case ByInput:
		if p.Input != "" {
			l.addf("partition.input", ErrInvalid, "%q: input applies to by: entry only; by: input makes one task per listed input", p.Input)
		}
		if len(s.Inputs) == 0 {
			l.addf("partition.by", ErrInvalid, "by: input makes one task per listed input, and the spec lists none")
		}
	case "":
		l.addf("partition.by", ErrRequired, "use entry (one task per entry of a directory input) or input (one task per listed input)")
	default:
		l.addf("partition.by", ErrInvalid, "%q: use entry (one task per entry of a directory input) or input (one task per listed input)", p.By)
	}
	if p.MaxParallel < 0 || p.MaxParallel > MaxPartitionTasks {
		l.addf("partition.max_parallel", ErrInvalid, "%d: 1 to %d tasks at once (omit it for no limit)", p.MaxParallel, MaxPartitionTasks)
	}
	if r := p.RetryCount(); r < 0 || r > MaxRetries {
		l.addf("partition.retries", ErrInvalid, "%d: 0 to %d retries of a failed task", r, MaxRetries)
	}
	if s.Type != Batch || s.Count != 1 {
		l.addf("partition", ErrInvalid, "each task of a partitioned job runs on one node: remove type: ops and count")
	}
	if len(s.Secrets) > 0 {
		l.addf("partition", ErrInvalid, "a partitioned job cannot name secrets yet: their values are sealed to one executor")
	}
	if len(s.Publish) > 0 {
		l.addf("partition", ErrInvalid, "a partitioned job cannot publish: its tasks' outputs are combined into one directory on the requester; publish that with a job of its own")
	}
	var env map[string]string
	field := "engine.wasm.env"
	switch {
	case s.Engine.Wasm != nil:
		env = s.Engine.Wasm.Env
	case s.Engine.Docker != nil:
		env, field = s.Engine.Docker.Env, "engine.docker.env"
	}
	for _, k := range reservedEnv {
		if _, ok := env[k]; ok {
			l.addf(field+"."+k, ErrInvalid, "%s is set by the partitioned job for each task; remove it", k)
		}
	}
}

func remoteKind(in Input) string {
	if in.S3 != nil {
		return "s3"
	}
	return "url"
}
