package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/content/s3io"
)

// IndexName is the object written last under an S3 publish prefix; it
// names the job and the outputs' CID, so a reader can verify the files
// against the content-addressed outputs.
const IndexName = "shoal-outputs.json"

// Index is the content of IndexName.
type Index struct {
	Job       string    `json:"job"`
	Outputs   string    `json:"outputs"`
	Objects   int       `json:"objects"`
	Published time.Time `json:"published"`
}

// S3 uploads the output tree dir (whose UnixFS root is outputs) under
// l.Prefix, then the index object.
func S3(ctx context.Context, c *s3io.Client, l s3io.Location, job, outputs cid.Cid, dir string, now time.Time) error {
	n, err := countFiles(dir)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	idx, err := json.Marshal(Index{Job: job.String(), Outputs: outputs.String(), Objects: n, Published: now.UTC()})
	if err != nil {
		return err
	}
	if _, err := c.Upload(ctx, l, dir, IndexName, idx); err != nil {
		return err
	}
	return nil
}
