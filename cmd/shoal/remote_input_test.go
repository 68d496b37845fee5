package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// URL inputs end to end on real daemons and a loopback web server: the
// executor downloads the input, imports it (its CID and ETag are in the
// receipt), and a second job over the same URL reuses the import (the
// server sends the content once, answering 304 to the second request).
// Oversized content, a redirect loop, a slow server, a lying Content-Length,
// an unsupported scheme and a private
// address on an executor without inputs.allow_private each fail their job
// with a clear error, and the daemons go on running jobs.
func TestURLInputs(t *testing.T) {
	var full atomic.Int64
	corpus := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 200))
	mux := http.NewServeMux()
	mux.HandleFunc("/corpus.txt", etagServer(corpus, &full))
	mux.HandleFunc("/big.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(2<<20))
		w.Write(make([]byte, 2<<20))
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("a little"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then nothing more
	})
	mux.HandleFunc("/liar", func(w http.ResponseWriter, r *http.Request) {
		// Announces 1000 bytes, sends 10 and closes.
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789")
		buf.Flush()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	conf := func(edit func(c *node.Config)) func(string) error {
		return testnet.EditConfig(func(c *node.Config) {
			c.Jobs.DisableDocker = true
			c.Jobs.BidWindow = node.Duration(2 * time.Second)
			edit(c)
		})
	}
	// a has the default policy (no private destinations); b, the
	// executor of the jobs that should run, allows them (the server is on
	// loopback) and bounds inputs to 1 MiB.
	a := testnet.Start(t, testnet.Options{InitArgs: []string{"--label", "zone=a"}, Configure: conf(func(*node.Config) {})})
	b := testnet.Start(t, testnet.Options{Bootstrap: []string{a.TCPAddr()}, InitArgs: []string{"--label", "zone=b"},
		Configure: conf(func(c *node.Config) {
			c.Jobs.MaxInputBytes = 1 << 20
			c.Inputs.AllowPrivate = true
			c.Inputs.DownloadTimeout = node.Duration(3 * time.Second)
		})})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range []*testnet.Daemon{a, b} {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	wc := testnet.WasmModule(t, "examples/wordcount")
	url := srv.URL + "/corpus.txt"

	first, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--label", "zone=b", "--name", "url-1")
	if err != nil || first.State != api.JobCompleted {
		t.Fatalf("url job: %v %+v", err, first)
	}
	im := onlyImport(t, first)
	if im.Source != url || im.ETag != `"corpus-v1"` || im.Reused || im.CID == "" {
		t.Fatalf("first import %+v", im)
	}
	// The import is the same content `shoal add` gives.
	local := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(local, corpus, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := addQ(t, a, local); got != im.CID {
		t.Fatalf("shoal add of the same bytes gives %s, the import %s", got, im.CID)
	}

	second, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--label", "zone=b", "--name", "url-2")
	if err != nil || second.State != api.JobCompleted {
		t.Fatalf("second url job: %v %+v", err, second)
	}
	im2 := onlyImport(t, second)
	if !im2.Reused || im2.CID != im.CID {
		t.Fatalf("second import %+v, want the first import (%s) reused", im2, im.CID)
	}
	if n := full.Load(); n != 1 {
		t.Fatalf("the server sent the corpus %d times, want 1 (the second job's request is answered 304)", n)
	}
	if second.Receipts[0].Stdout == "" {
		t.Fatal("no stdout")
	}

	failures := []struct {
		name, input, zone, want, code string
	}{
		{"oversized", srv.URL + "/big.bin:/inputs/big.bin", "zone=b", "more than jobs.max_input_bytes", "input_too_large"},
		{"redirect loop", srv.URL + "/loop:/inputs/x", "zone=b", "too many redirects", "bad_input"},
		{"private address", url + ":/inputs/corpus.txt", "zone=a", "127.0.0.1 is not a public address", "fetch_failed"},
		{"slow server", srv.URL + "/slow:/inputs/x", "zone=b", "timed out", "fetch_failed"},
		{"lying content length", srv.URL + "/liar:/inputs/x", "zone=b", "announced 1000 bytes and sent 10", "fetch_failed"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			j, err := runJSON(t, a, "run", "wasm", wc, "--input", f.input, "--label", f.zone, "--name", f.name, "--queue-timeout", "10s")
			if err == nil || j == nil || j.State != api.JobFailed {
				t.Fatalf("%v %+v", err, j)
			}
			if !strings.Contains(j.Error, f.want) {
				t.Fatalf("error %q does not say %q", j.Error, f.want)
			}
			// The executor's receipt says the code; a node's own run may
			// end without one in the job's record (the error quotes it).
			if !strings.Contains(j.Error, f.code) && (len(j.Receipts) == 0 || j.Receipts[0].ErrorCode != f.code) {
				t.Fatalf("error %q, receipts %+v, want code %s", j.Error, j.Receipts, f.code)
			}
		})
	}
	t.Run("unsupported scheme", func(t *testing.T) {
		out, err := a.Run("run", "wasm", wc, "--input", "ftp://127.0.0.1/x:/inputs/x")
		if err == nil || !strings.Contains(err.Error()+out, `scheme "ftp" is not supported`) {
			t.Fatalf("ftp input: %v\n%s", err, out)
		}
	})
	// import: requester: the CLI downloads and adds the input, and the
	// spec holds its CID: the receipt lists no import.
	byReq, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--import", "requester", "--label", "zone=b", "--name", "url-req")
	if err != nil || byReq.State != api.JobCompleted || len(byReq.Receipts) != 1 || len(byReq.Receipts[0].Imports) != 0 {
		t.Fatalf("import requester: %v %+v", err, byReq)
	}
	if n := full.Load(); n != 2 {
		t.Fatalf("the server sent the corpus %d times, want 2 (once more for the requester)", n)
	}
	// The daemons are unharmed: the same job runs again.
	again, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--label", "zone=b", "--name", "url-3")
	if err != nil || again.State != api.JobCompleted {
		t.Fatalf("after the failures: %v %+v", err, again)
	}
}

func onlyImport(t *testing.T, j *api.Job) api.Import {
	t.Helper()
	if len(j.Receipts) != 1 || len(j.Receipts[0].Imports) != 1 {
		t.Fatalf("receipts %+v, want one with one import", j.Receipts)
	}
	return j.Receipts[0].Imports[0]
}

// Placement follows an imported URL: the executor that ran a job over a
// URL holds its content, and its bid on a second job over the same URL (a
// different spec) counts it as local, so that job goes to it and reuses
// the import (the server answers 304). Two workers could run both jobs;
// without the imported bytes in the bid, which one runs the second is a
// coin toss, and the bid's local bytes would be 0.
func TestURLInputPlacement(t *testing.T) {
	var full atomic.Int64
	corpus := []byte(strings.Repeat("placement follows the imported url\n", 300))
	srv := httptest.NewServer(etagServer(corpus, &full))
	defer srv.Close()
	conf := func(worker bool) func(string) error {
		return testnet.EditConfig(func(c *node.Config) {
			c.Jobs.DisableDocker = true
			c.Jobs.BidWindow = node.Duration(2 * time.Second)
			c.Inputs.AllowPrivate = worker // the server is on loopback
		})
	}
	// a submits (no worker label: it declines); b and c are the workers.
	a := testnet.Start(t, testnet.Options{Configure: conf(false)})
	workers := map[string]*testnet.Daemon{}
	for range 2 {
		w := testnet.Start(t, testnet.Options{Bootstrap: []string{a.TCPAddr()}, InitArgs: []string{"--label", "role=worker"}, Configure: conf(true)})
		workers[w.ID] = w
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range []*testnet.Daemon{a} {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: 2, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	for _, w := range workers {
		if _, err := w.Client.Peers(ctx, api.WaitOptions{Min: 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", w.ID, err)
		}
	}
	wc := testnet.WasmModule(t, "examples/wordcount")
	url := srv.URL + "/corpus.txt"

	first, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--label", "role=worker", "--name", "placed-1")
	if err != nil || first.State != api.JobCompleted || len(first.Receipts) != 1 {
		t.Fatalf("first url job: %v %+v", err, first)
	}
	importer := first.Receipts[0].Executor
	if workers[importer] == nil {
		t.Fatalf("first job ran on %s, not a worker", importer)
	}
	im := onlyImport(t, first)

	second, err := runJSON(t, a, "run", "wasm", wc, "--input", url+":/inputs/corpus.txt", "--label", "role=worker", "--name", "placed-2")
	if err != nil || second.State != api.JobCompleted || len(second.Receipts) != 1 {
		t.Fatalf("second url job: %v %+v", err, second)
	}
	var bid *api.Bid
	for i, b := range second.Bids {
		if b.Peer == importer {
			bid = &second.Bids[i]
		} else if b.LocalBytes != 0 {
			t.Errorf("bid of %s, which never imported the url, claims %d local bytes", b.Peer, b.LocalBytes)
		}
	}
	if bid == nil {
		t.Fatalf("no bid from the importer %s: %+v", importer, second.Bids)
	}
	if want := int64(len(corpus)); bid.LocalBytes != want || bid.TotalBytes != want {
		t.Fatalf("importer's bid: local %d of %d bytes, want all %d (the import counts as local)", bid.LocalBytes, bid.TotalBytes, want)
	}
	if got := second.Receipts[0].Executor; got != importer {
		t.Fatalf("second job ran on %s, want the importer %s (bids %+v)", got, importer, second.Bids)
	}
	// The hint changed nothing of the checks: the executor revalidated the
	// import with the server (304) and its receipt says it reused it.
	if im2 := onlyImport(t, second); !im2.Reused || im2.CID != im.CID {
		t.Fatalf("second import %+v, want the first (%s) reused", im2, im.CID)
	}
	if n := full.Load(); n != 1 {
		t.Fatalf("the server sent the corpus %d times, want 1", n)
	}
}

// etagServer serves body with the ETag "corpus-v1", answering 304 to a
// request that names it; full counts the full responses.
func etagServer(body []byte, full *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"corpus-v1"`)
		if r.Header.Get("If-None-Match") == `"corpus-v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	}
}
