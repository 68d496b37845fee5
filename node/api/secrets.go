package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// SecretsHeader carries the values of a submitted job's secrets to POST
// /jobs: base64url (no padding) of a JSON object NAME → value. A header
// rather than the body, so that the body stays exactly the spec document,
// and rather than the query, which proxies and logs keep. The daemon keeps
// the values in memory only (see docs/security.md, "Secrets").
const SecretsHeader = "Shoal-Secrets"

// maxSecretsHeader bounds the header: the JSON of jobspec.MaxSecretsTotal
// bytes of names and values, with quoting, in base64.
const maxSecretsHeader = 4 * (jobspec.MaxSecretsTotal*2 + 1024) / 3

// secretsOf decodes the secrets header of r (nil when absent).
func secretsOf(r *http.Request) (map[string]string, error) {
	h := r.Header.Get(SecretsHeader)
	if h == "" {
		return nil, nil
	}
	if len(h) > maxSecretsHeader {
		return nil, BadRequest("%s header of %d bytes, limit %d", SecretsHeader, len(h), maxSecretsHeader)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, BadRequest("%s header: not base64url: %v", SecretsHeader, err)
	}
	var vals map[string]string
	if err := json.Unmarshal(b, &vals); err != nil {
		// The error of encoding/json may quote the input: say only where.
		return nil, BadRequest("%s header: not a JSON object of strings", SecretsHeader)
	}
	return vals, nil
}

func secretsHeader(vals map[string]string) (string, error) {
	b, err := json.Marshal(vals)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// submit posts to /jobs with the secrets header (SubmitWith, SubmitCIDWith).
func (c *Client) submit(ctx context.Context, q url.Values, body *strings.Reader, ct string, vals map[string]string) (*SubmitResponse, error) {
	hdr := http.Header{}
	if len(vals) > 0 {
		h, err := secretsHeader(vals)
		if err != nil {
			return nil, err
		}
		hdr.Set(SecretsHeader, h)
	}
	var rd io.Reader
	if body != nil {
		rd = body
	}
	resp, err := c.DoHeader(ctx, http.MethodPost, "/jobs", q, rd, ct, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r SubmitResponse
	return &r, decodeJSON(resp, &r)
}
