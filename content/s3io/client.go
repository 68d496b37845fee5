package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/shoalnet/shoal/content/fetchurl"
)

// DefaultEndpoint is used when neither the job nor the operator names one.
const DefaultEndpoint = "https://s3.amazonaws.com"

// MaxObjects bounds the objects one prefix download reads.
const MaxObjects = 100_000

// Errors.
var (
	ErrTooLarge   = errors.New("s3io: objects larger than the limit")
	ErrTooMany    = errors.New("s3io: too many objects")
	ErrNoObjects  = errors.New("s3io: no object under the prefix")
	ErrBadKey     = errors.New("s3io: object key cannot be a file name")
	ErrBadAddress = errors.New("s3io: bad endpoint")
)

// Config is the node's S3 setup.
type Config struct {
	// Endpoint is the operator's endpoint (base URL), used when the job
	// names none; the node's credentials go to it alone. "" means
	// DefaultEndpoint.
	Endpoint string
	// Region is the default signing region ("" lets minio-go find it).
	Region string
	// AllowPrivate lets endpoints other than Endpoint be private addresses
	// (inputs.allow_private). The configured endpoint is always allowed.
	AllowPrivate bool
	// Credentials overrides the environment chain (tests); nil means
	// AWS variables, then the shared credentials file.
	Credentials *credentials.Credentials
}

// Object names what to download: Key, or every object under Prefix.
type Object struct {
	Bucket, Key, Prefix, Endpoint, Region string
}

// Location names where to upload: objects under Prefix.
type Location struct {
	Bucket, Prefix, Endpoint, Region string
}

// Client makes S3 clients per endpoint under one Config.
type Client struct {
	cfg Config
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	return &Client{cfg: cfg}
}

func (c *Client) creds() *credentials.Credentials {
	if c.cfg.Credentials != nil {
		return c.cfg.Credentials
	}
	return credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}})
}

// open returns a minio client for endpoint (or the configured one).
func (c *Client) open(endpoint, region string) (*minio.Client, error) {
	trusted := endpoint == "" || strings.TrimRight(endpoint, "/") == strings.TrimRight(c.cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = c.cfg.Endpoint
	}
	if region == "" {
		region = c.cfg.Region
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: want http(s)://host[:port]", ErrBadAddress, endpoint)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           fetchurl.DialContext(trusted || c.cfg.AllowPrivate),
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if trusted {
		creds = c.creds()
	}
	return minio.New(u.Host, &minio.Options{Creds: creds, Secure: u.Scheme == "https", Transport: tr,
		Region: region, BucketLookup: minio.BucketLookupPath})
}

// Downloaded describes a download.
type Downloaded struct {
	Size    int64
	Objects int
	// ETag of the object (a key download); for a prefix, empty.
	ETag string
	// LastModified is the newest modification time of the objects read.
	LastModified time.Time
}

// Download writes the object o.Key to the file dst, or every object under
// o.Prefix to the directory dst (its key minus the prefix, split at "/",
// as the path), reading at most max bytes in all (0: no bound; the sizes
// the listing reports are checked first, then the bytes received).
func (c *Client) Download(ctx context.Context, o Object, dst string, max int64, maxName string) (Downloaded, error) {
	mc, err := c.open(o.Endpoint, o.Region)
	if err != nil {
		return Downloaded{}, err
	}
	if o.Key != "" {
		return c.getOne(ctx, mc, o.Bucket, o.Key, dst, max, maxName)
	}
	return c.getPrefix(ctx, mc, o, dst, max, maxName)
}

func (c *Client) getOne(ctx context.Context, mc *minio.Client, bucket, key, dst string, max int64, maxName string) (Downloaded, error) {
	obj, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return Downloaded{}, fmt.Errorf("s3io: get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		return Downloaded{}, fmt.Errorf("s3io: get s3://%s/%s: %w", bucket, key, err)
	}
	if max > 0 && st.Size > max {
		return Downloaded{}, fmt.Errorf("%w: s3://%s/%s has %d bytes, more than %s (%d bytes)", ErrTooLarge, bucket, key, st.Size, maxName, max)
	}
	n, err := writeFile(dst, obj, max)
	if err != nil {
		return Downloaded{}, fmt.Errorf("s3io: get s3://%s/%s: %w", bucket, key, err)
	}
	if max > 0 && n > max {
		return Downloaded{}, fmt.Errorf("%w: s3://%s/%s sent more than %s (%d bytes)", ErrTooLarge, bucket, key, maxName, max)
	}
	return Downloaded{Size: n, Objects: 1, ETag: st.ETag, LastModified: st.LastModified}, nil
}

func (c *Client) getPrefix(ctx context.Context, mc *minio.Client, o Object, dst string, max int64, maxName string) (Downloaded, error) {
	var keys []minio.ObjectInfo
	var total int64
	for info := range mc.ListObjects(ctx, o.Bucket, minio.ListObjectsOptions{Prefix: o.Prefix, Recursive: true}) {
		if info.Err != nil {
			return Downloaded{}, fmt.Errorf("s3io: list s3://%s/%s: %w", o.Bucket, o.Prefix, info.Err)
		}
		if strings.HasSuffix(info.Key, "/") && info.Size == 0 {
			continue // a "directory marker"
		}
		keys = append(keys, info)
		total += info.Size
		if len(keys) > MaxObjects {
			return Downloaded{}, fmt.Errorf("%w: more than %d under s3://%s/%s", ErrTooMany, MaxObjects, o.Bucket, o.Prefix)
		}
		if max > 0 && total > max {
			return Downloaded{}, fmt.Errorf("%w: the objects under s3://%s/%s have more than %s (%d bytes)", ErrTooLarge, o.Bucket, o.Prefix, maxName, max)
		}
	}
	if len(keys) == 0 {
		return Downloaded{}, fmt.Errorf("%w: s3://%s/%s", ErrNoObjects, o.Bucket, o.Prefix)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return Downloaded{}, err
	}
	d := Downloaded{Objects: len(keys)}
	for _, info := range keys {
		rel, err := relName(strings.TrimPrefix(info.Key, o.Prefix))
		if err != nil {
			return Downloaded{}, fmt.Errorf("s3://%s/%s: %w", o.Bucket, info.Key, err)
		}
		p := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return Downloaded{}, err
		}
		left := int64(0)
		if max > 0 {
			left = max - d.Size
		}
		got, err := c.getOne(ctx, mc, o.Bucket, info.Key, p, left, maxName)
		if err != nil {
			return Downloaded{}, err
		}
		d.Size += got.Size
		if got.LastModified.After(d.LastModified) {
			d.LastModified = got.LastModified
		}
	}
	return d, nil
}

// relName checks that an object key (minus the prefix) is a relative path
// that stays inside the download directory.
func relName(k string) (string, error) {
	k = strings.TrimLeft(k, "/")
	if k == "" {
		return "", fmt.Errorf("%w: the prefix itself names an object; give it as key", ErrBadKey)
	}
	for _, part := range strings.Split(k, "/") {
		if part == "" || part == "." || part == ".." || strings.ContainsRune(part, 0) {
			return "", fmt.Errorf("%w: %q", ErrBadKey, k)
		}
	}
	return path.Clean(k), nil
}

func writeFile(dst string, r io.Reader, max int64) (int64, error) {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Upload puts every regular file under dir as an object under l.Prefix
// (its path relative to dir, with "/"), then the index object (name, data)
// last, so a reader that finds the index finds every file. It returns the
// number of objects written, the index included.
func (c *Client) Upload(ctx context.Context, l Location, dir string, indexName string, index []byte) (int, error) {
	mc, err := c.open(l.Endpoint, l.Region)
	if err != nil {
		return 0, err
	}
	n := 0
	err = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		key := path.Join(l.Prefix, filepath.ToSlash(rel))
		if _, err := mc.PutObject(ctx, l.Bucket, key, f, st.Size(), minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", l.Bucket, key, err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("s3io: upload to s3://%s/%s: %w", l.Bucket, l.Prefix, err)
	}
	key := path.Join(l.Prefix, indexName)
	if _, err := mc.PutObject(ctx, l.Bucket, key, strings.NewReader(string(index)), int64(len(index)),
		minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return n, fmt.Errorf("s3io: put s3://%s/%s: %w", l.Bucket, key, err)
	}
	return n + 1, nil
}
