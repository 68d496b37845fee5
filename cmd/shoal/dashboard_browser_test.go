package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// screenshotEnv, set to 1, makes TestDashboardInBrowser write its
// screenshot to docs/dashboard.png too (the README shows it).
const screenshotEnv = "SHOAL_UPDATE_SCREENSHOT"

// The dashboard of a running 3-node network, in a real headless Chromium:
// a job submitted through the API appears on the open page without a
// reload, reaches completed with its executor shown, its stdout and its
// path on the map; the token given in the URL's fragment is out of the
// address bar.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons and a headless Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed: `make tools` (scripts/tools.sh) installs Debian's chromium package when run as root, and CI runs it; the dashboard's browser test is skipped")
	}
	// A requester, a worker (the only node the job's label admits) and a
	// node that holds the job's input.
	ds := jobNet(t, 3, nil, []string{"role=worker"}, nil)
	a, worker, holder := ds[0], ds[1], ds[2]
	module := addQ(t, a, testnet.TinyHelloModule(t))
	in := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(in, []byte(strings.Repeat("dashboard input\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	input := addQ(t, holder, in)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1400, 1250), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var console strings.Builder
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(&console, f+"\n", a...) }))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	fail := func(format string, args ...any) {
		t.Helper()
		html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("#jobs")))
		t.Fatalf(format+"\njobs table: %s\nbrowser: %s", append(args, html, console.String())...)
	}
	css := func(format string, args ...any) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(format, args...)) }

	url, err := a.Run("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	url = strings.TrimSpace(url)
	if want := strings.TrimRight(a.API, "/") + "/#token=" + a.Token(); url != want {
		t.Fatalf("shoal dashboard printed %q, want %q", url, want)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(css("#main")),
		chromedp.WaitVisible(css("#live.on")), // the event stream is open
	); err != nil {
		fail("dashboard did not load: %v", err)
	}
	href, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(href, "token") {
		t.Fatalf("the token stayed in the address bar: %s", href)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.shoalTestMarker = "same page"`)); err != nil {
		t.Fatal(err)
	}

	spec := fmt.Sprintf("name: dashboard-job\nengine:\n  wasm:\n    module: %s\ninputs:\n  - cid: %s\n    path: /inputs/input.txt\nconstraints:\n  labels: {role: worker}\n", module, input)
	res, err := a.Client.Submit(ctx, []byte(spec), false)
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`#jobs tr[data-job=%q]`, res.ID)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css("%s", row))); err != nil {
		fail("job %s never appeared on the page: %v", res.ID, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`%s[data-state="completed"]`, row)),
		chromedp.WaitVisible(css(`%s td.executor:not([data-executor=""])`, row)),
	); err != nil {
		fail("job %s did not reach completed on the page: %v", res.ID, err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(css("%s td.state", row)))
	if err != nil {
		t.Fatal(err)
	}
	executor, err := chromedp.Run(ctx, chromedp.AttributeValue(css("%s td.executor", row), "data-executor"))
	if err != nil {
		t.Fatal(err)
	}
	if state != "completed" || executor.Value != worker.ID {
		fail("page shows job %s %q on %q, want completed on the worker %s", res.ID, state, executor.Value, worker.ID)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.shoalTestMarker || "reloaded"`))
	if err != nil || marker != "same page" {
		t.Fatalf("the page reloaded (%q, %v): it should update live", marker, err)
	}
	// The job's view: its stdout (from the receipt's CID), its path to the
	// executor on the map, and the node that holds its input.
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`(document.querySelector("#job pre.stdout")||{}).textContent === "hello\n"`, chromedp.WithPollingTimeout(time.Minute)),
		chromedp.WaitReady(css(`#map path.path.done[data-job=%q]`, res.ID)),
		chromedp.WaitReady(css(`#map circle.executor[data-peer=%q]`, worker.ID)),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("#map rect.input")].some(r => r.getAttribute("data-input") === %q)`, input), chromedp.WithPollingTimeout(time.Minute)),
		// The link between two other nodes, from their capability records.
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("#map line.link.remote")].some(l => [l.getAttribute("data-a"), l.getAttribute("data-b")].sort().join(" ") === [%q, %q].sort().join(" "))`, worker.ID, holder.ID), chromedp.WithPollingTimeout(time.Minute)),
	); err != nil {
		fail("job view incomplete: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if os.Getenv(screenshotEnv) == "1" {
		doc := filepath.Join("..", "..", "docs", "dashboard.png")
		if err := os.WriteFile(doc, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", doc)
	}

	// Live logs: a job that prints a line every 200 ms for 20 s, selected
	// with a click, shows its lines on the page before it completes.
	ticker := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/ticker"))
	res, err = a.Client.Submit(ctx, []byte(fmt.Sprintf("name: dashboard-ticker\nengine:\n  wasm:\n    module: %s\n    args: [200ms, 20s]\nconstraints:\n  labels: {role: worker}\n", ticker)), false)
	if err != nil {
		t.Fatal(err)
	}
	row = fmt.Sprintf(`#jobs tr[data-job=%q]`, res.ID)
	// Select it as a user would, clicking its row; the table is redrawn on
	// every event, so click again until the row shows as selected.
	selectRow := fmt.Sprintf(`(() => { const r = document.querySelector(%q); if (!r) return false; if (!r.classList.contains("selected")) r.click(); return r.classList.contains("selected"); })()`, row)
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](selectRow, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		fail("ticker job %s never appeared on the page or could not be selected: %v", res.ID, err)
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`(document.querySelector("#job pre.live-logs")||{textContent:""}).textContent.includes("tick 2")`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		fail("the ticker's live lines never showed: %v", err)
	}
	if st, err := a.Client.Job(ctx, res.ID); err != nil || st.State == api.JobCompleted {
		t.Fatalf("the live lines showed only after the job ended (%v, %v): they must come while it runs", st, err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`%s[data-state="completed"]`, row))); err != nil {
		fail("ticker job %s did not reach completed on the page: %v", res.ID, err)
	}
}
