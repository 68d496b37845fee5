package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Remote is what the executor needs to import a job's remote inputs (URL,
// S3) and to publish its outputs beyond the node. The node implements it
// over content/fetchurl, content/s3io and content/publish; a market
// without one refuses to bid on jobs that need it.
type Remote interface {
	// Import downloads the remote input in (in.URL or in.S3), stores no
	// more than limit.Max bytes, imports it as UnixFS with the default
	// settings, pins it (so the node provides it like any content) and
	// returns its CID. Content over the bound fails with an error
	// matching ErrContentTooLarge; a source that every executor would
	// fail on (a bad answer from the server) with ErrUnusableContent.
	Import(ctx context.Context, in jobspec.Input, limit FetchLimit) (Imported, error)
	// Publish puts the outputs (root outputs, also on disk at dir) of job
	// at target.
	Publish(ctx context.Context, target jobspec.Publish, job, outputs cid.Cid, dir string) error
	// HeldImport returns, from memory and without blocking, the root and
	// size of the last import of the url input in when Import would ask
	// the server to revalidate it (it has an ETag or Last-Modified) and it
	// is still pinned here; cid.Undef otherwise. Admission counts it as
	// local bytes (bidding.NodeView.HeldImport).
	HeldImport(in jobspec.Input) (root cid.Cid, size int64)
}

// Imported is the result of Remote.Import.
type Imported struct {
	CID  cid.Cid
	Size int64 // bytes of content
	// Validators of the source (ETag for a URL or an S3 key).
	ETag         string
	LastModified time.Time
	// Reused: the node had imported the same source and the server said it
	// had not changed, so nothing was downloaded.
	Reused bool
}

// maxPublishTime bounds one publish target.
const maxPublishTime = 10 * time.Minute

// importInputs imports the remote inputs of spec, within the input budget,
// records them in rc and returns the CID of every input (remote or not) in
// input order, and the budget used.
func (ex *executor) importInputs(ctx context.Context, spec *jobspec.Spec, rc *bidding.Receipt) ([]cid.Cid, int64, bidding.Code, error) {
	cids := make([]cid.Cid, len(spec.Inputs))
	var used int64
	for i, in := range spec.Inputs {
		cids[i] = in.CID
		if !in.Remote() {
			continue
		}
		if ex.cfg.Remote == nil {
			return nil, used, bidding.CodeFetchFailed, fmt.Errorf("input %s: this node does not import url or s3 inputs", in.Source())
		}
		limit := FetchLimit{Max: ex.cfg.MaxInputBytes, Name: "jobs.max_input_bytes"}
		if limit.Max > 0 {
			limit.Max = max(limit.Max-used, 1)
			if used > 0 {
				limit.Name = fmt.Sprintf("the part of jobs.max_input_bytes (%s) earlier inputs left", jobspec.FormatSize(ex.cfg.MaxInputBytes))
			}
		}
		got, err := ex.cfg.Remote.Import(ctx, in, limit)
		switch {
		case err == nil:
		case errors.Is(err, ErrContentTooLarge):
			return nil, used, bidding.CodeInputTooLarge, fmt.Errorf("input %s refused: %w", in.Source(), err)
		case errors.Is(err, ErrUnusableContent):
			return nil, used, bidding.CodeBadInput, fmt.Errorf("input %s: %w", in.Source(), err)
		default:
			return nil, used, bidding.CodeFetchFailed, fmt.Errorf("input %s: %w", in.Source(), err)
		}
		used += got.Size
		cids[i] = got.CID
		rc.Imports = append(rc.Imports, bidding.ImportRecord{Index: i, CID: got.CID, ETag: bidding.ValidatorForReceipt(got.ETag),
			LastModified: got.LastModified, Reused: got.Reused})
		ex.log.Info("imported remote input", "job", spec.Name, "source", in.Source(), "cid", got.CID, "bytes", got.Size, "reused", got.Reused)
	}
	return cids, used, "", nil
}

// publishRemote publishes the outputs to every target of the spec and
// records the outcomes in rc. It returns the first failure of a required
// target.
func (ex *executor) publishRemote(ctx context.Context, spec *jobspec.Spec, rc *bidding.Receipt, dir string) error {
	var failed error
	for i, t := range spec.Publish {
		rec := bidding.PublishRecord{Index: i, OK: true}
		var err error
		if ex.cfg.Remote == nil {
			err = errors.New("this node does not publish outside Shoal")
		} else {
			pctx, cancel := context.WithTimeout(ctx, maxPublishTime)
			err = ex.cfg.Remote.Publish(pctx, t, rc.JobCID, rc.OutputsRoot, dir)
			cancel()
		}
		if err != nil {
			rec.OK, rec.Error = false, bidding.TruncateText(err.Error(), bidding.MaxPublishErrorLen)
			ex.log.Warn("publish failed", "target", t.String(), "required", t.Required, "err", err)
			if t.Required && failed == nil {
				failed = fmt.Errorf("required publish to %s: %w", t, err)
			}
		}
		rc.Published = append(rc.Published, rec)
	}
	return failed
}

// addRemoteInfo adds the receipt's imports and publish outcomes to info,
// named by the spec's sources and targets. Entries whose index the spec
// does not have are skipped (the receipt was checked against its job).
func addRemoteInfo(info *ReceiptInfo, rc *bidding.Receipt, spec *jobspec.Spec) {
	for _, im := range rc.Imports {
		if im.Index >= len(spec.Inputs) {
			continue
		}
		in := spec.Inputs[im.Index]
		info.Imports = append(info.Imports, ImportInfo{Source: in.Source(), Path: in.Path, CID: im.CID.String(),
			ETag: im.ETag, LastModified: im.LastModified, Reused: im.Reused})
	}
	for _, p := range rc.Published {
		if p.Index >= len(spec.Publish) {
			continue
		}
		t := spec.Publish[p.Index]
		info.Published = append(info.Published, PublishInfo{Target: t.String(), Required: t.Required, OK: p.OK, Error: p.Error})
	}
}
