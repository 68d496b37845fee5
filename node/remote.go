package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/content/fetchurl"
	"github.com/shoalnet/shoal/content/publish"
	"github.com/shoalnet/shoal/content/s3io"
)

// remote implements market.Remote: it downloads url and s3 inputs under
// the node's download policy (InputsConfig, jobs.max_input_bytes), imports
// them as UnixFS with the default settings and pins them, and publishes
// outputs to S3 and remote kubo nodes. It remembers, per URL, the CID and
// validators of the last import, so a URL whose ETag (or Last-Modified)
// is unchanged is not downloaded again while its content is still pinned,
// and keeps the reusable ones in the node's heldImports, so that bids on
// later jobs over the URL count it as local.
type remote struct {
	n    *Node
	log  *slog.Logger
	cfg  InputsConfig
	work string // temporary download space

	urls *fetchurl.Client
	s3   *s3io.Client
	kubo *publish.Kubo

	// locks serialize imports of one source, so two jobs over the same
	// URL download it once.
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

var _ market.Remote = (*remote)(nil)

// sourcesPrefix is the datastore prefix of the import records.
const sourcesPrefix = "/inputs/sources"

// urlCacheKey is where the last import of a source is remembered.
func urlCacheKey(source string) ds.Key {
	h := sha256.Sum256([]byte(source))
	return ds.NewKey(sourcesPrefix + "/" + hex.EncodeToString(h[:]))
}

// sourceRecord is the stored record of an import.
type sourceRecord struct {
	Source       string `json:"source"`
	CID          string `json:"cid"`
	Size         int64  `json:"size"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

func newRemote(n *Node, work string, log *slog.Logger) *remote {
	cfg := n.cfg.Inputs
	return &remote{
		n: n, log: log, cfg: cfg, work: work,
		urls:  fetchurl.New(fetchurl.Policy{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.DownloadTimeout.D()}),
		s3:    s3io.New(s3io.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, AllowPrivate: cfg.AllowPrivate}),
		kubo:  publish.NewKubo(cfg.AllowPrivate),
		locks: map[string]*sync.Mutex{},
	}
}

func (r *remote) lock(source string) func() {
	r.mu.Lock()
	l, ok := r.locks[source]
	if !ok {
		l = &sync.Mutex{}
		r.locks[source] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Import implements market.Remote.
func (r *remote) Import(ctx context.Context, in jobspec.Input, limit market.FetchLimit) (market.Imported, error) {
	source := in.Source()
	defer r.lock(source)()
	tmp, err := os.MkdirTemp(r.work, "import-")
	if err != nil {
		return market.Imported{}, fmt.Errorf("download space: %w", err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "data")
	var got market.Imported
	switch {
	case in.URL != "":
		got, err = r.importURL(ctx, in.URL, dst, limit)
	case in.S3 != nil:
		got, err = r.importS3(ctx, in.S3, dst, limit)
	default:
		return got, fmt.Errorf("input at %s is not a url or s3 input", in.Path)
	}
	if err != nil {
		return got, err
	}
	if got.Reused {
		r.hold(ctx, in, got)
		return got, nil
	}
	node, err := content.OpenPath(dst, true)
	if err != nil {
		return got, err
	}
	// The default import settings, as `shoal add`: the same bytes give
	// the same CID as kubo's `ipfs add --cid-version=1`.
	c, err := r.n.Content.Add(ctx, node, content.AddOptions{Pin: true})
	if err != nil {
		return got, fmt.Errorf("import: %w", err)
	}
	got.CID = c
	r.remember(ctx, source, got)
	r.hold(ctx, in, got)
	return got, nil
}

// HeldImport implements market.Remote, from memory (heldImports).
func (r *remote) HeldImport(in jobspec.Input) (cid.Cid, int64) {
	if in.URL == "" {
		return cid.Undef, 0 // s3 imports are downloaded again: nothing to reuse
	}
	return r.n.held.get(in.URL)
}

// hold lets later bids count the import got of in as local: a url input
// whose server gave validators (Import revalidates it instead of
// downloading), still pinned. The pin is checked after the import is
// remembered, so an Unpin racing with the import cannot leave it counted:
// either the check sees the pin gone or OnUnpin sees the entry.
func (r *remote) hold(ctx context.Context, in jobspec.Input, got market.Imported) {
	if in.URL == "" {
		return
	}
	if got.ETag == "" && got.LastModified.IsZero() {
		r.n.held.drop(in.URL)
		return
	}
	r.n.held.put(in.URL, got.CID, got.Size)
	if pinned, err := r.n.Content.IsPinned(ctx, got.CID); err != nil || !pinned {
		r.n.held.drop(in.URL)
	}
}

// loadHeld fills the node's heldImports from the records of earlier
// imports of url inputs that are still pinned, at most maxHeldImports of
// them. It runs once, at start, before the market bids.
func (r *remote) loadHeld(ctx context.Context) error {
	res, err := r.n.Store.Query(ctx, query.Query{Prefix: sourcesPrefix})
	if err != nil {
		return fmt.Errorf("list imported sources: %w", err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return fmt.Errorf("list imported sources: %w", e.Error)
		}
		if r.n.held.len() >= maxHeldImports {
			break
		}
		var rec sourceRecord
		if json.Unmarshal(e.Value, &rec) != nil || ds.NewKey(e.Key) != urlCacheKey(rec.Source) {
			continue
		}
		if c, ok := r.reusable(ctx, rec); ok && isURL(rec.Source) {
			r.n.held.put(rec.Source, c, rec.Size)
		}
	}
	return nil
}

// isURL tells a url source from an s3 one (s3://bucket/key).
func isURL(source string) bool {
	return strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
}

func (r *remote) importURL(ctx context.Context, u, dst string, limit market.FetchLimit) (market.Imported, error) {
	var v fetchurl.Validators
	prev, havePrev := r.recall(ctx, u)
	if havePrev {
		v = fetchurl.Validators{ETag: prev.ETag, LastModified: prev.LastModified}
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return market.Imported{}, err
	}
	res, err := r.urls.WithLimit(limit.Max, limit.Name).Get(ctx, u, f, v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return market.Imported{}, urlError(err)
	}
	lm, _ := http.ParseTime(res.LastModified)
	if res.NotModified {
		c, _ := cid.Decode(prev.CID)
		r.log.Debug("url not modified, reusing its import", "url", u, "cid", c, "etag", res.ETag)
		return market.Imported{CID: c, Size: prev.Size, ETag: res.ETag, LastModified: lm, Reused: true}, nil
	}
	return market.Imported{Size: res.Size, ETag: res.ETag, LastModified: lm}, nil
}

// urlError sorts a download error for the executor: over the bound is
// input_too_large, an answer every executor would get is bad_input, the
// rest (network, policy of this node) fetch_failed.
func urlError(err error) error {
	switch {
	case errors.Is(err, fetchurl.ErrTooLarge):
		return fmt.Errorf("%w: %w", market.ErrContentTooLarge, err)
	case errors.Is(err, fetchurl.ErrStatus), errors.Is(err, fetchurl.ErrRedirects), errors.Is(err, fetchurl.ErrScheme):
		return fmt.Errorf("%w: %w", market.ErrUnusableContent, err)
	}
	return err
}

func (r *remote) importS3(ctx context.Context, o *jobspec.S3Object, dst string, limit market.FetchLimit) (market.Imported, error) {
	d, err := r.s3.Download(ctx, s3io.Object{Bucket: o.Bucket, Key: o.Key, Prefix: o.Prefix, Endpoint: o.Endpoint, Region: o.Region},
		dst, limit.Max, limit.Name)
	switch {
	case errors.Is(err, s3io.ErrTooLarge), errors.Is(err, s3io.ErrTooMany):
		return market.Imported{}, fmt.Errorf("%w: %w", market.ErrContentTooLarge, err)
	case errors.Is(err, s3io.ErrNoObjects), errors.Is(err, s3io.ErrBadKey):
		return market.Imported{}, fmt.Errorf("%w: %w", market.ErrUnusableContent, err)
	case err != nil:
		return market.Imported{}, err
	}
	return market.Imported{Size: d.Size, ETag: d.ETag, LastModified: d.LastModified}, nil
}

// recall returns the last import of source if its content is still
// pinned here.
func (r *remote) recall(ctx context.Context, source string) (sourceRecord, bool) {
	b, err := r.n.Store.Get(ctx, urlCacheKey(source))
	if err != nil {
		return sourceRecord{}, false
	}
	var rec sourceRecord
	if json.Unmarshal(b, &rec) != nil || rec.Source != source {
		return sourceRecord{}, false
	}
	if _, ok := r.reusable(ctx, rec); !ok {
		r.n.held.drop(source)
		return sourceRecord{}, false
	}
	return rec, true
}

// reusable returns the root of the import rec when a request with its
// validators could reuse it: it has an ETag or Last-Modified and its root
// is still pinned here.
func (r *remote) reusable(ctx context.Context, rec sourceRecord) (cid.Cid, bool) {
	if rec.ETag == "" && rec.LastModified == "" {
		return cid.Undef, false
	}
	c, err := cid.Decode(rec.CID)
	if err != nil {
		return cid.Undef, false
	}
	if pinned, err := r.n.Content.IsPinned(ctx, c); err != nil || !pinned {
		return cid.Undef, false
	}
	return c, true
}

func (r *remote) remember(ctx context.Context, source string, got market.Imported) {
	rec := sourceRecord{Source: source, CID: got.CID.String(), Size: got.Size, ETag: got.ETag}
	if !got.LastModified.IsZero() {
		rec.LastModified = got.LastModified.UTC().Format(http.TimeFormat)
	}
	b, err := json.Marshal(rec)
	if err == nil {
		err = r.n.Store.Put(ctx, urlCacheKey(source), b)
	}
	if err != nil {
		r.log.Warn("cannot remember an import", "source", source, "err", err)
	}
}

// Publish implements market.Remote.
func (r *remote) Publish(ctx context.Context, t jobspec.Publish, job, outputs cid.Cid, dir string) error {
	switch {
	case t.IPFS != nil:
		return r.kubo.Push(ctx, t.IPFS.API, outputs, func(w io.Writer) error {
			return r.n.Content.ExportCAR(ctx, outputs, w)
		})
	case t.S3 != nil:
		l := s3io.Location{Bucket: t.S3.Bucket, Prefix: t.S3.Prefix, Endpoint: t.S3.Endpoint, Region: t.S3.Region}
		return publish.S3(ctx, r.s3, l, job, outputs, dir, time.Now())
	}
	return errors.New("empty publish target")
}
