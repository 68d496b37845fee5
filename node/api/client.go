package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/shoalnet/shoal/node"
)

// ErrNoDaemon means no daemon answers for a repo.
var ErrNoDaemon = errors.New("no daemon running")

// Client talks to a daemon's HTTP API.
type Client struct {
	base  string
	token string
	http  *http.Client
	repo  string
}

// NewClient returns a client for addr: "host:port", "http://host:port" or a
// multiaddr like /ip4/127.0.0.1/tcp/5280, sending token with every request
// (the daemon refuses requests without it).
func NewClient(addr, token string) (*Client, error) {
	base, err := baseURL(addr)
	if err != nil {
		return nil, err
	}
	return &Client{base: base, token: token, http: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}}}, nil
}

// ClientForRepo finds the API address a daemon wrote into repo/api and, when
// token is empty, the token in repo/api.token. A missing address file means
// no daemon runs.
func ClientForRepo(repo, token string) (*Client, error) {
	addr, err := RepoAPIAddr(repo)
	if err != nil {
		return nil, err
	}
	if token == "" {
		t, err := node.ReadAPITokenFile(node.APITokenPath(repo))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read the API token: %w", err)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no API token at %s: start the daemon of this repo once to create it, or give the token with $SHOAL_API_TOKEN or --api-token-file", node.APITokenPath(repo))
		}
		token = t
	}
	c, err := NewClient(addr, token)
	if err != nil {
		return nil, err
	}
	c.repo = repo
	return c, nil
}

// RepoAPIAddr is the API address the daemon of repo wrote into repo/api;
// ErrNoDaemon when there is none.
func RepoAPIAddr(repo string) (string, error) {
	b, err := os.ReadFile(filepath.Join(repo, node.APIFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w for repo %s (start one with `shoal daemon`)", ErrNoDaemon, repo)
	}
	if err != nil {
		return "", fmt.Errorf("read API address: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SameAPI reports whether addresses a and b (any form NewClient takes) name
// the same API.
func SameAPI(a, b string) bool {
	ua, err1 := baseURL(a)
	ub, err2 := baseURL(b)
	return err1 == nil && err2 == nil && ua == ub
}

func baseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	switch {
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		return strings.TrimRight(addr, "/"), nil
	case strings.HasPrefix(addr, "/"):
		m, err := ma.NewMultiaddr(addr)
		if err != nil {
			return "", fmt.Errorf("invalid API multiaddr %q: %w", addr, err)
		}
		_, hostport, err := manet.DialArgs(m)
		if err != nil {
			return "", fmt.Errorf("invalid API multiaddr %q: %w", addr, err)
		}
		return "http://" + hostport, nil
	default:
		return "http://" + addr, nil
	}
}

// Base is the base URL of the daemon.
func (c *Client) Base() string { return c.base }

// Do sends a request to path (relative to Prefix) and returns the response
// when its status is 2xx; otherwise it decodes the API error.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	return c.DoHeader(ctx, method, path, q, body, contentType, nil)
}

// DoHeader is Do with extra request headers.
func (c *Client) DoHeader(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string, hdr http.Header) (*http.Response, error) {
	u := c.base + Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType == "" && method != http.MethodGet && method != http.MethodHead {
		// The server refuses mutating calls without a type web pages
		// cannot send; a call with no body says JSON.
		contentType = "application/json"
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if c.repo != "" {
			return nil, fmt.Errorf("%w for repo %s (start one with `shoal daemon`): %v", ErrNoDaemon, c.repo, err)
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrNoDaemon, c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = CodeInternal, fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return nil, e
	}
	return resp, nil
}

// GetJSON GETs path and decodes the JSON response into out.
func (c *Client) GetJSON(ctx context.Context, path string, q url.Values, out any) error {
	return c.JSON(ctx, http.MethodGet, path, q, nil, out)
}

// JSON sends in (if non-nil) as a JSON body and decodes the response into out.
func (c *Client) JSON(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = strings.NewReader(string(b)), "application/json"
	}
	resp, err := c.Do(ctx, method, path, q, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s response: %w", path, err)
	}
	return nil
}

// ID describes the daemon's node.
func (c *Client) ID(ctx context.Context) (*IDResponse, error) {
	var r IDResponse
	return &r, c.GetJSON(ctx, "/id", nil, &r)
}

// WaitOptions make a listing wait until it has at least Min entries.
type WaitOptions struct {
	Min     int
	Timeout time.Duration
	// Topic (peers only) also waits until Min peers listen on the job
	// announcement topic.
	Topic bool
}

func (o WaitOptions) query() url.Values {
	q := url.Values{}
	if o.Min > 0 {
		q.Set("min", fmt.Sprint(o.Min))
	}
	if o.Timeout > 0 {
		q.Set("timeout", o.Timeout.String())
	}
	if o.Topic {
		q.Set("topic", "1")
	}
	return q
}

// Peers lists connected peers.
func (c *Client) Peers(ctx context.Context, wait WaitOptions) ([]Peer, error) {
	var r []Peer
	return r, c.GetJSON(ctx, "/peers", wait.query(), &r)
}

// Nodes lists nodes from the DHT, filtered by engine and labels.
func (c *Client) Nodes(ctx context.Context, engine string, labels []string, wait WaitOptions) (*NodesResponse, error) {
	q := wait.query()
	if engine != "" {
		q.Set("engine", engine)
	}
	for _, l := range labels {
		q.Add("label", l)
	}
	var r NodesResponse
	return &r, c.GetJSON(ctx, "/nodes", q, &r)
}

// Version is the daemon's version.
func (c *Client) Version(ctx context.Context) (*VersionResponse, error) {
	var r VersionResponse
	return &r, c.GetJSON(ctx, "/version", nil, &r)
}

func decodeJSON(resp *http.Response, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// Token is the API token the client sends.
func (c *Client) Token() string { return c.token }
