package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
)

// attackPage is what a web page can do to the daemon: CSRF posts a page
// may send without a preflight (text/plain, untyped, a form), and a read.
const attackPage = `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="post" enctype="text/plain" target="sink" action="%[1]s/api/v0/jobs">
<input type="hidden" name="name: browser-form%[2]s" value="">
</form>
<script>
const api = %[1]q, out = {};
(async () => {
  const spec = "name: browser-fetch\nengine:\n  wasm:\n    module: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n";
  try { await fetch(api + "/api/v0/jobs", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: spec}); out.fetch = "sent"; } catch (e) { out.fetch = "error " + e; }
  try { await fetch(api + "/api/v0/orgs/acme/issue?peer=%[3]s&expires=87600h", {method: "POST", mode: "no-cors"}); out.issue = "sent"; } catch (e) { out.issue = "error " + e; }
  try { const r = await fetch(api + "/api/v0/id"); out.read = "read " + r.status + " " + await r.text(); } catch (e) { out.read = "blocked " + e; }
  await new Promise(done => { document.querySelector("iframe").onload = done; document.getElementById("f").submit(); });
  out.form = "submitted";
  await fetch("/report", {method: "POST", body: JSON.stringify(out)});
})();
</script></body></html>`

// A real browser on a page of another port of 127.0.0.1 (the same site as
// the API, the hardest case) sends what a page can: no job is created, no
// certificate is signed, nothing is read.
func TestBrowserCannotDriveAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a headless Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (scripts/tools.sh installs it when run as root): the browser test of the API's defences is skipped")
	}
	d := testnet.Start(t, testnet.Options{Env: []string{"SHOAL_LOG_LEVEL=debug"}, Configure: testnet.EditConfig(func(c *node.Config) { c.Jobs.DisableDocker = true })})
	if _, err := d.Run("org", "init", "acme"); err != nil {
		t.Fatal(err)
	}
	api := strings.TrimRight(d.API, "/")
	formSpec := "\nengine:\n  wasm:\n    module: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n#"
	report := make(chan map[string]string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, attackPage, api, strings.ReplaceAll(formSpec, "\n", "&#10;"), d.ID)
	})
	mux.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		select {
		case report <- m:
		default:
		}
	})
	page := httptest.NewServer(mux)
	defer page.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-extensions", "--user-data-dir="+t.TempDir(), page.URL+"/")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	var got map[string]string
	select {
	case got = <-report:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the page reported nothing within 2 minutes; chromium:\n%s", logs.String())
	}
	t.Logf("page: %v", got)
	if got["fetch"] != "sent" || got["form"] != "submitted" {
		t.Fatalf("the browser did not send the attack (so this test proves nothing): %v", got)
	}
	if !strings.HasPrefix(got["read"], "blocked") {
		t.Fatalf("the page read the API: %s", got["read"])
	}
	out, err := d.Run("job", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "browser-") {
		t.Fatalf("the page created a job:\n%s", out)
	}
	// The certificate is answered, not stored: the daemon's log says the
	// request was refused.
	if !refused(d.Log(), "/api/v0/orgs/acme/issue") {
		t.Fatalf("no refusal of the page's certificate request in the daemon's log:\n%s", d.Log())
	}
}

// refused reports whether the daemon's debug log says it refused a request
// for path.
func refused(log, path string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "API request refused") && strings.Contains(l, "path="+path+" ") {
			return true
		}
	}
	return false
}
