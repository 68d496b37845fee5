package fetchurl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	// DefaultTimeout bounds a whole download.
	DefaultTimeout = 10 * time.Minute
	// DefaultStallTimeout bounds the wait for response headers and for
	// each read of the body: a server that stops sending fails after it.
	DefaultStallTimeout = 30 * time.Second
	// DefaultMaxRedirects is how many redirects a download follows.
	DefaultMaxRedirects = 5
	// MaxValidatorLen bounds the ETag and Last-Modified values kept.
	MaxValidatorLen = 256
)

// Errors; those of Get wrap one of them (or a context error).
var (
	ErrScheme    = errors.New("fetchurl: unsupported scheme")
	ErrPrivate   = errors.New("fetchurl: destination not allowed")
	ErrTooLarge  = errors.New("fetchurl: content larger than the limit")
	ErrRedirects = errors.New("fetchurl: too many redirects")
	ErrStatus    = errors.New("fetchurl: unexpected HTTP status")
	ErrTimeout   = errors.New("fetchurl: timed out")
	ErrTruncated = errors.New("fetchurl: content shorter than announced")
)

// Policy bounds downloads. The zero value refuses private destinations,
// follows DefaultMaxRedirects and has no size bound.
type Policy struct {
	// AllowPrivate lets downloads reach loopback, private and link-local
	// addresses (config inputs.allow_private; off by default, so a job
	// cannot make a node probe its own network).
	AllowPrivate bool
	// MaxBytes bounds the bytes of one download (0: no bound); MaxBytesName
	// names the bound in errors ("jobs.max_input_bytes").
	MaxBytes     int64
	MaxBytesName string
	// Timeout bounds a whole download (0: DefaultTimeout).
	Timeout time.Duration
	// StallTimeout bounds the wait for headers and for each read
	// (0: DefaultStallTimeout).
	StallTimeout time.Duration
	// MaxRedirects (0: DefaultMaxRedirects; negative: none followed).
	MaxRedirects int
}

// Validators identify a version of a resource: a download given them asks
// the server to answer 304 Not Modified when they still hold.
type Validators struct {
	ETag         string
	LastModified string
}

// Result describes a download.
type Result struct {
	// NotModified is true when the server answered 304 to the validators
	// given: nothing was written.
	NotModified bool
	// Size is the number of bytes written.
	Size int64
	// Validators the server sent (each at most MaxValidatorLen bytes;
	// longer ones are dropped).
	Validators
	// URL is the URL finally read, after redirects.
	URL string
}

// Client downloads under one Policy. It is safe for concurrent use.
type Client struct {
	p    Policy
	http *http.Client
}

// New returns a client for p.
func New(p Policy) *Client {
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.StallTimeout <= 0 {
		p.StallTimeout = DefaultStallTimeout
	}
	switch {
	case p.MaxRedirects == 0:
		p.MaxRedirects = DefaultMaxRedirects
	case p.MaxRedirects < 0:
		p.MaxRedirects = 0
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           DialContext(p.AllowPrivate),
		TLSHandshakeTimeout:   p.StallTimeout,
		ResponseHeaderTimeout: p.StallTimeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > p.MaxRedirects {
			return fmt.Errorf("%w: more than %d (started at %s)", ErrRedirects, p.MaxRedirects, via[0].URL.Redacted())
		}
		if err := checkScheme(req.URL); err != nil {
			return err
		}
		return nil
	}}
	return &Client{p: p, http: c}
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %q in %s; only http and https are downloaded", ErrScheme, u.Scheme, u.Redacted())
	}
	return nil
}

// Get downloads rawURL into w. With validators set, a 304 answer writes
// nothing and returns Result.NotModified. A Content-Length over the bound
// fails before any byte is read; a body that passes the bound fails as
// soon as it does; a body shorter than its Content-Length fails with
// ErrTruncated. What was written to w before a failure is the caller's to
// discard.
func (c *Client) Get(ctx context.Context, rawURL string, w io.Writer, v Validators) (Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Result{}, fmt.Errorf("fetchurl: %q: %w", rawURL, err)
	}
	if err := checkScheme(u); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, fmt.Errorf("fetchurl: %s: %w", u.Redacted(), err)
	}
	req.Header.Set("User-Agent", "shoal")
	req.Header.Set("Accept-Encoding", "identity") // the bytes as stored, counted as sent
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, c.wrap(ctx, u, err)
	}
	defer resp.Body.Close()
	res := Result{URL: resp.Request.URL.String()}
	res.ETag = bounded(resp.Header.Get("ETag"))
	res.LastModified = bounded(resp.Header.Get("Last-Modified"))
	switch {
	case resp.StatusCode == http.StatusNotModified && (v.ETag != "" || v.LastModified != ""):
		res.NotModified = true
		if res.ETag == "" {
			res.ETag = v.ETag
		}
		if res.LastModified == "" {
			res.LastModified = v.LastModified
		}
		return res, nil
	case resp.StatusCode != http.StatusOK:
		return res, fmt.Errorf("%w: %s answered %s", ErrStatus, u.Redacted(), resp.Status)
	}
	if c.p.MaxBytes > 0 && resp.ContentLength > c.p.MaxBytes {
		return res, c.tooLarge(u, resp.ContentLength, "announced")
	}
	// The stall timer: each read must bring bytes within StallTimeout.
	var stalled atomic.Bool
	timer := time.AfterFunc(c.p.StallTimeout, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	body := &stallReader{r: resp.Body, timer: timer, d: c.p.StallTimeout}
	limit := c.p.MaxBytes
	var src io.Reader = body
	if limit > 0 {
		src = io.LimitReader(body, limit+1)
	}
	n, err := io.Copy(w, src)
	res.Size = n
	if err != nil {
		if stalled.Load() {
			return res, fmt.Errorf("%w: %s sent nothing for %s after %d bytes", ErrTimeout, u.Redacted(), c.p.StallTimeout, n)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return res, fmt.Errorf("%w: %s announced %d bytes and sent %d", ErrTruncated, u.Redacted(), resp.ContentLength, n)
		}
		return res, c.wrap(ctx, u, err)
	}
	if limit > 0 && n > limit {
		return res, c.tooLarge(u, n, "sent at least")
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return res, fmt.Errorf("%w: %s announced %d bytes and sent %d", ErrTruncated, u.Redacted(), resp.ContentLength, n)
	}
	return res, nil
}

func (c *Client) tooLarge(u *url.URL, n int64, how string) error {
	name := c.p.MaxBytesName
	if name == "" {
		name = "the download limit"
	}
	return fmt.Errorf("%w: %s %s %d bytes, more than %s (%d bytes)", ErrTooLarge, u.Redacted(), how, n, name, c.p.MaxBytes)
}

func (c *Client) wrap(ctx context.Context, u *url.URL, err error) error {
	switch {
	case errors.Is(err, ErrPrivate), errors.Is(err, ErrRedirects), errors.Is(err, ErrScheme):
		return err // already says what and why; url.Error would repeat the URL
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: no answer within %s: %v", ErrTimeout, u.Redacted(), c.p.Timeout, err)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s: %v", ErrTimeout, u.Redacted(), err)
	}
	return fmt.Errorf("fetchurl: %s: %w", u.Redacted(), err)
}

func bounded(s string) string {
	if len(s) > MaxValidatorLen {
		return ""
	}
	return s
}

// stallReader pushes the stall deadline back on every read that brings
// bytes.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// WithLimit returns a client of the same policy and connections whose
// downloads are bounded to max bytes (0: no bound), named name in errors.
func (c *Client) WithLimit(max int64, name string) *Client {
	p := c.p
	p.MaxBytes, p.MaxBytesName = max, name
	return &Client{p: p, http: c.http}
}
