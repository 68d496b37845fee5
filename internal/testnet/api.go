package testnet

import (
	"context"
	"net/http"

	"github.com/shoalnet/shoal/node"
)

// Token is the daemon's API token, read from its repo.
func (d *Daemon) Token() string {
	d.t.Helper()
	t, err := node.ReadAPITokenFile(node.APITokenPath(d.Repo))
	if err != nil {
		d.t.Fatalf("API token of %s: %v", d.Repo, err)
	}
	return t
}

// Get GETs path (from the root, e.g. "/debug/pprof/heap") on the daemon's
// API with its token. Safe to call from any goroutine.
func (d *Daemon) Get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.API+path, nil)
	if err != nil {
		return nil, err
	}
	tok, err := node.ReadAPITokenFile(node.APITokenPath(d.Repo))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return http.DefaultClient.Do(req)
}
