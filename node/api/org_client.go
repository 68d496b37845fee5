package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/node"
)

// Orgs describes the daemon's trust state: org keys it holds, trusted orgs,
// its certificates and the deny-list.
func (c *Client) Orgs(ctx context.Context) (*node.OrgInfo, error) {
	var r node.OrgInfo
	return &r, c.GetJSON(ctx, "/orgs", nil, &r)
}

// OrgInit creates an org key in the daemon's repo and trusts it there.
func (c *Client) OrgInit(ctx context.Context, name string) (*node.OrgKeyInfo, error) {
	var r node.OrgKeyInfo
	return &r, c.JSON(ctx, http.MethodPost, "/orgs/"+url.PathEscape(name)+"/init", nil, nil, &r)
}

// OrgIssue signs a membership certificate of org for peer (role "" means
// both, ttl 0 the default validity). The result holds the file in PEM.
func (c *Client) OrgIssue(ctx context.Context, org, peer, role string, ttl time.Duration) (*node.CertInfo, error) {
	q := url.Values{"peer": {peer}}
	if role != "" {
		q.Set("role", role)
	}
	if ttl > 0 {
		q.Set("expires", ttl.String())
	}
	var r node.CertInfo
	return &r, c.JSON(ctx, http.MethodPost, "/orgs/"+url.PathEscape(org)+"/issue", q, nil, &r)
}

// OrgJoin installs a certificate file on the daemon.
func (c *Client) OrgJoin(ctx context.Context, file []byte) (*node.CertInfo, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/orgs/join", nil, bytes.NewReader(file), "application/x-pem-file")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r node.CertInfo
	return &r, decodeJSON(resp, &r)
}

// OrgLeave removes the daemon's certificate of org.
func (c *Client) OrgLeave(ctx context.Context, org string) error {
	return c.JSON(ctx, http.MethodPost, "/orgs/"+url.PathEscape(org)+"/leave", nil, nil, nil)
}

// OrgTrust makes the daemon trust key for org.
func (c *Client) OrgTrust(ctx context.Context, org, key string) error {
	return c.JSON(ctx, http.MethodPost, "/orgs/"+url.PathEscape(org)+"/trust", url.Values{"key": {key}}, nil, nil)
}

// OrgUntrust makes the daemon stop trusting org.
func (c *Client) OrgUntrust(ctx context.Context, org string) error {
	return c.JSON(ctx, http.MethodPost, "/orgs/"+url.PathEscape(org)+"/untrust", nil, nil, nil)
}

// OrgDeny puts a peer ID or certificate ID on the deny-list (or, with
// remove, takes it off).
func (c *Client) OrgDeny(ctx context.Context, id string, remove bool) (*DenyResponse, error) {
	q := url.Values{"id": {id}}
	if remove {
		q.Set("remove", "1")
	}
	var r DenyResponse
	return &r, c.JSON(ctx, http.MethodPost, "/orgs/deny", q, nil, &r)
}

// Policy returns the daemon's effective admission policy.
func (c *Client) Policy(ctx context.Context) (*PolicyResponse, error) {
	var r PolicyResponse
	return &r, c.GetJSON(ctx, "/policy", nil, &r)
}

// SetPolicy replaces the daemon's admission policy (saved in its config
// and applied at once).
func (c *Client) SetPolicy(ctx context.Context, p *policy.Policy) (*PolicyResponse, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodPut, "/policy", nil, bytes.NewReader(b), "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r PolicyResponse
	return &r, decodeJSON(resp, &r)
}

// PolicyPeers lists how peers fare under the daemon's abuse limits.
func (c *Client) PolicyPeers(ctx context.Context) ([]node.PeerAbuse, error) {
	var r []node.PeerAbuse
	return r, c.GetJSON(ctx, "/policy/peers", nil, &r)
}
