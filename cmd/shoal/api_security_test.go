package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
)

// rawAPI sends one request to d's API as a browser or another local user
// would: no client library, headers as given (Host included).
func rawAPI(t *testing.T, d *testnet.Daemon, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, d.API+"/api/v0"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// shoalCmd runs the CLI with exactly args and env (no --repo added).
func shoalCmd(t *testing.T, bin string, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// The attacks of a web page and of another local user on a real daemon:
// a cross-site text/plain job (CSRF), a renamed Host (DNS rebinding), a
// certificate signed by the org key; none needs more than curl.
func TestDaemonAPIRefusesWebPages(t *testing.T) {
	d := testnet.Start(t, testnet.Options{Configure: testnet.EditConfig(func(c *node.Config) { c.Jobs.DisableDocker = true })})
	tokFile := node.APITokenPath(d.Repo)
	if st, err := os.Stat(tokFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v, mode %v; want 0600", tokFile, err, st.Mode().Perm())
	}
	tok := d.Token()
	u, _ := url.Parse(d.API)
	spec := "name: csrf\nengine:\n  wasm:\n    module: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n"
	if _, err := d.Run("org", "init", "acme"); err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + tok
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		want               int
	}{
		{"CSRF text/plain job", "POST", "/jobs", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, spec, http.StatusForbidden},
		{"text/plain job from a local user", "POST", "/jobs", map[string]string{"Content-Type": "text/plain"}, spec, http.StatusUnauthorized},
		{"text/plain job with the token", "POST", "/jobs", map[string]string{"Content-Type": "text/plain", "Authorization": bearer}, spec, http.StatusUnsupportedMediaType},
		{"yaml job from a local user", "POST", "/jobs", map[string]string{"Content-Type": "application/yaml"}, spec, http.StatusUnauthorized},
		{"DNS rebinding read", "GET", "/id", map[string]string{"Host": "evil.example:" + u.Port(), "Authorization": bearer}, "", http.StatusForbidden},
		{"DNS rebinding job list", "GET", "/jobs", map[string]string{"Host": "evil.example:" + u.Port()}, "", http.StatusForbidden},
		{"cross-site cert", "POST", "/orgs/acme/issue?peer=" + d.ID + "&expires=87600h", map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": bearer, "Content-Type": "application/json"}, "", http.StatusForbidden},
		{"no-cors cert", "POST", "/orgs/acme/issue?peer=" + d.ID + "&expires=87600h", map[string]string{"Authorization": bearer}, "", http.StatusUnsupportedMediaType},
		{"cert from a local user", "POST", "/orgs/acme/issue?peer=" + d.ID + "&expires=87600h", map[string]string{"Content-Type": "application/json"}, "", http.StatusUnauthorized},
		{"version from a local user", "GET", "/version", nil, "", http.StatusUnauthorized},
		{"the CLI's way", "GET", "/id", map[string]string{"Authorization": bearer}, "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, body := rawAPI(t, d, tc.method, tc.path, tc.hdr, tc.body)
			if got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, body)
			}
		})
	}
	out, err := d.Run("job", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "csrf") {
		t.Fatalf("a refused request created a job:\n%s", out)
	}
	// The CLI finds the token in the repo: nothing on its command line.
	if _, err := d.Run("id"); err != nil {
		t.Fatalf("shoal id with the repo's token: %v", err)
	}
}

// How the CLI gets the token of a daemon at --api: $SHOAL_API_TOKEN or
// --api-token-file (neither visible in ps), the repo's own only when --api
// is that repo's daemon, and the deprecated --api-token with a warning.
func TestCLIAPITokenSources(t *testing.T) {
	d := testnet.Start(t, testnet.Options{Configure: testnet.EditConfig(func(c *node.Config) { c.Jobs.DisableDocker = true })})
	tok := d.Token()
	elsewhere := filepath.Join(t.TempDir(), "no-repo") // another user's view: no repo, no token
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		ok      bool
		errWant string
	}{
		{"env", []string{"SHOAL_API_TOKEN=" + tok}, []string{"--repo", elsewhere, "--api", d.API, "id"}, true, ""},
		{"token file", nil, []string{"--repo", elsewhere, "--api", d.API, "--api-token-file", tokFile, "id"}, true, ""},
		{"repo's own daemon", nil, []string{"--repo", d.Repo, "--api", d.API, "id"}, true, ""},
		{"deprecated flag", nil, []string{"--repo", elsewhere, "--api", d.API, "--api-token", tok, "id"}, true, "deprecated"},
		{"none", nil, []string{"--repo", elsewhere, "--api", d.API, "id"}, false, "SHOAL_API_TOKEN"},
		{"wrong", []string{"SHOAL_API_TOKEN=wrong"}, []string{"--repo", elsewhere, "--api", d.API, "id"}, false, "wrong API token"},
		{"missing token file", nil, []string{"--repo", elsewhere, "--api", d.API, "--api-token-file", tokFile + ".nope", "id"}, false, "api-token-file"},
		{"daemon refuses flag", nil, []string{"--repo", d.Repo, "--api-token", "x", "daemon"}, false, "api.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := shoalCmd(t, d.Bin, append([]string{"SHOAL_API_TOKEN="}, tc.env...), tc.args...)
			if (err == nil) != tc.ok {
				t.Fatalf("shoal %s: err %v, want ok=%v; stderr: %s", strings.Join(tc.args, " "), err, tc.ok, stderr)
			}
			if tc.errWant != "" && !strings.Contains(stderr, tc.errWant) {
				t.Fatalf("stderr %q, want it to mention %q", stderr, tc.errWant)
			}
		})
	}
}

// A repo of an older version: the token sat in the 0644 config and there
// is no api.token. The daemon moves it out and replaces it.
func TestDaemonMigratesConfigToken(t *testing.T) {
	const old = "token-that-sat-in-a-0644-config"
	d := testnet.Start(t, testnet.Options{Configure: func(repo string) error {
		if err := os.Remove(node.APITokenPath(repo)); err != nil {
			return err
		}
		return testnet.EditConfig(func(c *node.Config) {
			c.Jobs.DisableDocker = true
			c.API.Token = old
		})(repo)
	}})
	b, err := os.ReadFile(filepath.Join(d.Repo, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), old) {
		t.Fatalf("config still holds the token after the daemon started:\n%s", b)
	}
	if st, err := os.Stat(node.APITokenPath(d.Repo)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v; want mode 0600", err)
	}
	if got, body := rawAPI(t, d, "GET", "/id", map[string]string{"Authorization": "Bearer " + old}, ""); got != http.StatusUnauthorized {
		t.Fatalf("old config token: status %d, want 401: %s", got, body)
	}
	if _, err := d.Run("id"); err != nil {
		t.Fatalf("shoal id after the migration: %v", err)
	}
	if !strings.Contains(d.Log(), "api.token in the config is no longer used") {
		t.Fatalf("no migration warning in the daemon's log:\n%s", d.Log())
	}
}
