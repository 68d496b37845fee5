package bidding

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Receipt error codes: why a run did not complete. A run that completed
// with a non-zero exit code has no error code; ExitCode carries it.
const (
	CodeTimeout       Code = "timeout"        // the spec's timeout expired
	CodeOutOfMemory   Code = "out_of_memory"  // the memory limit was hit
	CodeDiskLimit     Code = "disk_limit"     // the outputs outgrew resources.disk
	CodeFetchFailed   Code = "fetch_failed"   // content could not be fetched
	CodeEngineError   Code = "engine_error"   // the engine failed (not the job)
	CodePublishFailed Code = "publish_failed" // outputs could not be imported
	CodeCancelled     Code = "cancelled"      // the requester cancelled
	CodeBadInput      Code = "bad_input"      // an input cannot become files (a symlink root, unsafe names)
	CodeWorkerCrashed Code = "worker_crashed" // the sandbox process died under the job (not a limit it hit)
	CodeTrap          Code = "trap"           // the wasm module trapped (its exit_code is 134, the trap ends its stderr)
)

// Retryable reports whether a receipt error code is the executor's trouble
// rather than the job's, so the requester may award the job to the next
// bidder: fetch_failed, engine_error, publish_failed, worker_crashed.
func Retryable(c Code) bool {
	switch c {
	case CodeFetchFailed, CodeEngineError, CodePublishFailed, CodeWorkerCrashed:
		return true
	}
	return false
}

// Timings of a run.
type Timings struct {
	Fetch   time.Duration // fetching what the executor lacked
	Run     time.Duration // the engine, from start to exit
	Publish time.Duration // importing and providing outputs
	Total   time.Duration // accept to receipt
}

// Receipt is the executor's signed account of a run. It is the last message
// on ProtocolAward (or ProtocolReceipt), and both sides store it as a
// dag-cbor block (EncodeReceipt, DecodeReceipt); its CID names it. Signed by
// Executor. At most MaxMessageSize bytes.
type Receipt struct {
	Version   int
	JobCID    cid.Cid
	AwardID   AwardID
	Requester peer.ID
	Executor  peer.ID
	// OutputsRoot is the UnixFS directory of the captured outputs; Stdout
	// and Stderr are UnixFS files. All three are set when ErrorCode is
	// empty, and may be set (partial results) when it is not.
	OutputsRoot cid.Cid
	Stdout      cid.Cid
	Stderr      cid.Cid
	ExitCode    int
	// ErrorCode is empty when the job ran to its exit; otherwise one of the
	// receipt codes, with Error (at most MaxErrorLen bytes) for humans.
	ErrorCode  Code
	Error      string
	Timings    Timings
	StartedAt  time.Time
	FinishedAt time.Time
	// Imports lists the remote inputs (URL, S3) the executor imported, in
	// input order; Published the outcome of each publish target, in the
	// spec's order (receipt_remote.go).
	Imports   []ImportRecord
	Published []PublishRecord
	Sig       []byte
}

// Succeeded reports whether the job ran to its exit with exit code 0.
func (r *Receipt) Succeeded() bool { return r.ErrorCode == "" && r.ExitCode == 0 }

// Kind implements Message.
func (r *Receipt) Kind() Kind { return KindReceipt }

// Signer implements Message: the executor.
func (r *Receipt) Signer() peer.ID { return r.Executor }

func (r *Receipt) fields() (*int, *[]byte) { return &r.Version, &r.Sig }
func (r *Receipt) role() string            { return "executor" }
func (r *Receipt) limit() int              { return MaxMessageSize }

func (r *Receipt) encode(m *dag.Map) {
	m.Link("job", r.JobCID)
	putAwardID(m, "award", r.AwardID)
	putPeer(m, "requester", r.Requester)
	putPeer(m, "executor", r.Executor)
	m.Link("outputs", r.OutputsRoot)
	m.Link("stdout", r.Stdout)
	m.Link("stderr", r.Stderr)
	m.Int("exit", int64(r.ExitCode))
	m.Str("error_code", string(r.ErrorCode))
	m.Str("error", r.Error)
	t := dag.NewMap()
	putDur(t, "fetch_ms", r.Timings.Fetch)
	putDur(t, "run_ms", r.Timings.Run)
	putDur(t, "publish_ms", r.Timings.Publish)
	putDur(t, "total_ms", r.Timings.Total)
	m.Sub("timings", t)
	putTime(m, "started", r.StartedAt)
	putTime(m, "finished", r.FinishedAt)
	putImports(m, "imports", r.Imports)
	putPublished(m, "published", r.Published)
}

func (r *Receipt) decode(rd *dag.Reader) {
	r.JobCID = rd.Link("job")
	r.AwardID = getAwardID(rd, "award")
	r.Requester = getPeer(rd, "requester")
	r.Executor = getPeer(rd, "executor")
	r.OutputsRoot = rd.Link("outputs")
	r.Stdout = rd.Link("stdout")
	r.Stderr = rd.Link("stderr")
	r.ExitCode = getInt(rd, "exit")
	r.ErrorCode = Code(rd.Str("error_code"))
	r.Error = rd.Str("error")
	t := rd.Map("timings")
	r.Timings = Timings{Fetch: getDur(t, "fetch_ms"), Run: getDur(t, "run_ms"), Publish: getDur(t, "publish_ms"), Total: getDur(t, "total_ms")}
	t.Done()
	r.StartedAt = getTime(rd, "started")
	r.FinishedAt = getTime(rd, "finished")
	r.Imports = getImports(rd, "imports")
	r.Published = getPublished(rd, "published")
}

func (r *Receipt) check(c *checker) {
	c.jobCID("job", r.JobCID)
	c.awardID("award", r.AwardID)
	c.peer("requester", r.Requester)
	c.peer("executor", r.Executor)
	c.cid("outputs", r.OutputsRoot)
	c.cid("stdout", r.Stdout)
	c.cid("stderr", r.Stderr)
	if r.ErrorCode == "" {
		if !r.OutputsRoot.Defined() || !r.Stdout.Defined() || !r.Stderr.Defined() {
			c.failf("outputs", "a receipt without error_code needs outputs, stdout and stderr")
		}
		if r.Error != "" {
			c.failf("error", "set without error_code")
		}
	} else if !r.ErrorCode.Valid() {
		c.failf("error_code", "%q: 1 to 32 of a-z, 0-9, _", r.ErrorCode)
	}
	c.text("error", r.Error, MaxErrorLen)
	c.dur("timings.fetch_ms", r.Timings.Fetch, MaxTiming)
	c.dur("timings.run_ms", r.Timings.Run, MaxTiming)
	c.dur("timings.publish_ms", r.Timings.Publish, MaxTiming)
	c.dur("timings.total_ms", r.Timings.Total, MaxTiming)
	c.time("started", r.StartedAt)
	c.time("finished", r.FinishedAt)
	if r.FinishedAt.Before(r.StartedAt) {
		c.failf("finished", "before started")
	}
	c.imports("imports", r.Imports)
	c.published("published", r.Published)
}

// EncodeReceipt signs r with the executor's key and returns the receipt
// block and its CID (CIDv1, dag-cbor, sha2-256). Output, stdout and stderr
// CIDs are tag-42 links, so the block links to the results in IPLD.
func EncodeReceipt(key crypto.PrivKey, r *Receipt) ([]byte, cid.Cid, error) {
	b, err := Seal(key, r)
	if err != nil {
		return nil, cid.Undef, err
	}
	return b, dag.CID(b), nil
}

// DecodeReceipt opens a stored receipt block: size-bounded, canonical and
// signed by the executor it names.
func DecodeReceipt(block []byte) (*Receipt, error) {
	r, err := OpenReceipt(block)
	if err != nil {
		return nil, fmt.Errorf("decode receipt: %w", err)
	}
	return r, nil
}

// ReceiptCID returns the CID of a receipt block.
func ReceiptCID(block []byte) cid.Cid { return dag.CID(block) }
