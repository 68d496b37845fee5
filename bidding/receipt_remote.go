package bidding

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/shoalnet/shoal/bidding/internal/dag"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Bounds of the receipt's remote-input and publish entries. With the
// spec's MaxRemoteInputs and MaxPublish they keep the largest receipt
// within MaxMessageSize (TestReceiptRemoteFitsMessage).
const (
	MaxValidatorLen    = 96  // ETag kept in a receipt; longer ones are dropped
	MaxPublishErrorLen = 192 // a publish failure's text
)

// ImportRecord is what the executor got for a remote input: the input is
// the spec's Inputs[Index] (its source, URL or S3, is in the spec the
// receipt's job CID names), imported as CID, with the validators the
// server sent.
type ImportRecord struct {
	Index        int
	CID          cid.Cid
	ETag         string
	LastModified time.Time
	// Reused is true when the content was already imported on this node
	// and the server said it had not changed (no download).
	Reused bool
}

// PublishRecord is the outcome of publishing to the spec's
// Publish[Index]: OK, or Error saying why not.
type PublishRecord struct {
	Index int
	OK    bool
	Error string
}

func putImports(m *dag.Map, key string, recs []ImportRecord) {
	maps := make([]*dag.Map, len(recs))
	for i, r := range recs {
		im := dag.NewMap()
		im.Int("input", int64(r.Index))
		im.Link("cid", r.CID)
		im.Str("etag", r.ETag)
		putTime(im, "last_modified", r.LastModified)
		im.Flag("reused", r.Reused)
		maps[i] = im
	}
	m.Maps(key, maps)
}

func getImports(r *dag.Reader, key string) []ImportRecord {
	var out []ImportRecord
	r.List(key, jobspec.MaxRemoteInputs, func(path string, item datamodel.Node) {
		ir := r.Sub(path, item)
		out = append(out, ImportRecord{Index: getInt(ir, "input"), CID: ir.Link("cid"), ETag: ir.Str("etag"),
			LastModified: getTime(ir, "last_modified"), Reused: ir.Flag("reused")})
		ir.Done()
	})
	return out
}

func putPublished(m *dag.Map, key string, recs []PublishRecord) {
	maps := make([]*dag.Map, len(recs))
	for i, r := range recs {
		pm := dag.NewMap()
		pm.Int("target", int64(r.Index))
		pm.Flag("ok", r.OK)
		pm.Str("error", r.Error)
		maps[i] = pm
	}
	m.Maps(key, maps)
}

func getPublished(r *dag.Reader, key string) []PublishRecord {
	var out []PublishRecord
	r.List(key, jobspec.MaxPublish, func(path string, item datamodel.Node) {
		pr := r.Sub(path, item)
		out = append(out, PublishRecord{Index: getInt(pr, "target"), OK: pr.Flag("ok"), Error: pr.Str("error")})
		pr.Done()
	})
	return out
}

func (c *checker) imports(field string, recs []ImportRecord) {
	if len(recs) > jobspec.MaxRemoteInputs {
		c.failf(field, "%d entries, limit %d", len(recs), jobspec.MaxRemoteInputs)
	}
	for i, r := range recs {
		switch {
		case r.Index < 0 || r.Index >= jobspec.MaxInputs:
			c.failf(field, "input index %d out of range", r.Index)
		case !r.CID.Defined():
			c.failf(field, "entry %d has no cid", i)
		case i > 0 && recs[i-1].Index >= r.Index:
			c.failf(field, "entries not in input order")
		}
		c.cid(field, r.CID)
		c.text(field+".etag", r.ETag, MaxValidatorLen)
	}
}

func (c *checker) published(field string, recs []PublishRecord) {
	if len(recs) > jobspec.MaxPublish {
		c.failf(field, "%d entries, limit %d", len(recs), jobspec.MaxPublish)
	}
	for i, r := range recs {
		switch {
		case r.Index < 0 || r.Index >= jobspec.MaxPublish:
			c.failf(field, "target index %d out of range", r.Index)
		case r.OK && r.Error != "":
			c.failf(field, "entry %d is ok and has an error", i)
		case !r.OK && r.Error == "":
			c.failf(field, "entry %d failed without saying why", i)
		case i > 0 && recs[i-1].Index >= r.Index:
			c.failf(field, "entries not in target order")
		}
		c.text(field+".error", r.Error, MaxPublishErrorLen)
	}
}

// ValidatorForReceipt returns an ETag as a receipt keeps it: dropped when
// longer than MaxValidatorLen or not UTF-8.
func ValidatorForReceipt(etag string) string {
	if len(etag) > MaxValidatorLen {
		return ""
	}
	return TruncateText(etag, MaxValidatorLen)
}
