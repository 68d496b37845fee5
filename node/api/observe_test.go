package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// rawCall is call for a path outside Prefix (/metrics, the dashboard).
func rawCall(t *testing.T, s *Server, method, path, host string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// GET /metrics is behind the guard like every route: the token (on
// loopback too), the API's own Host, no other web origin.
func TestMetricsGuarded(t *testing.T) {
	s, port := apiNode(t)
	host := "127.0.0.1:" + port
	cases := []struct {
		name string
		host string
		hdr  map[string]string
		want int
	}{
		{"no token", "", nil, http.StatusUnauthorized},
		{"wrong token", "", map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}, http.StatusUnauthorized},
		{"token", "", auth(nil), http.StatusOK},
		{"cross-origin page", "", auth(map[string]string{"Origin": "http://evil.example"}), http.StatusForbidden},
		{"same-site page of another port", "", auth(map[string]string{"Origin": "http://127.0.0.1:1"}), http.StatusForbidden},
		{"cross-site fetch", "", auth(map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden},
		{"rebound name", "evil.example:" + port, auth(nil), http.StatusForbidden},
		{"own origin", host, auth(map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := rawCall(t, s, http.MethodGet, "/metrics", c.host, c.hdr)
			if code != c.want {
				t.Fatalf("GET /metrics: %d, want %d: %s", code, c.want, body)
			}
			if code == http.StatusOK && !strings.Contains(body, "shoal_bids_total") {
				t.Fatalf("no shoal metrics in:\n%.2000s", body)
			}
			if code != http.StatusOK && strings.Contains(body, "shoal_") {
				t.Fatalf("refused, yet the metrics were sent:\n%.500s", body)
			}
		})
	}
}

// The scrape parses as Prometheus text and has Shoal's, Go's and
// go-libp2p's metrics (the host registered with the node's registry).
func TestMetricsParse(t *testing.T) {
	s, _ := apiNode(t)
	code, hdr, body := rawCall(t, s, http.MethodGet, "/metrics", "", auth(nil))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want Prometheus text", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}
	for _, want := range []string{"shoal_bids_total", "shoal_executor_queue_depth", "shoal_executor_slots", "shoal_fetch_bytes_total", "shoal_provides_queued",
		"go_goroutines", "process_open_fds", "libp2p_rcmgr_limit", "libp2p_identify_protocols_count", "libp2p_swarm_dial_ranking_delay_seconds", "libp2p_eventbus_subscriber_queue_length"} {
		if fams[want] == nil {
			t.Errorf("no %s in the scrape", want)
		}
	}
	free := 0.0
	for _, m := range fams["shoal_executor_slots"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" && l.GetValue() == "free" {
				free = m.GetGauge().GetValue()
			}
		}
	}
	if free < 1 {
		t.Errorf("shoal_executor_slots{state=free} = %v on an idle node, want the node's slots", free)
	}
}

// The dashboard's page and assets are served without the token (a browser
// navigating cannot send one) but with the guard's Host and Origin checks,
// and with headers that keep it out of frames and to its own origin; its
// data routes need the token.
func TestDashboardGuarded(t *testing.T) {
	s, port := apiNode(t)
	cases := []struct {
		name, method, path, host string
		hdr                      map[string]string
		want                     int
	}{
		{"page", "GET", "/", "", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"script", "GET", "/ui/app.js", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"style", "GET", "/ui/style.css", "", nil, http.StatusOK},
		{"page under a rebound name", "GET", "/", "evil.example:" + port, nil, http.StatusForbidden},
		{"script included by another site", "GET", "/ui/app.js", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"page framed by another origin", "GET", "/", "", map[string]string{"Referer": "http://evil.example/"}, http.StatusForbidden},
		{"post to the page", "POST", "/", "", nil, http.StatusUnauthorized},
		{"events without token", "GET", Prefix + "/events", "", nil, http.StatusUnauthorized},
		{"providers without token", "GET", Prefix + "/providers?arg=" + "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "", nil, http.StatusUnauthorized},
		{"no such asset", "GET", "/ui/nothing.js", "", nil, http.StatusNotFound},
		{"not a page", "GET", "/nothing", "", nil, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, body := rawCall(t, s, c.method, c.path, c.host, c.hdr)
			if code != c.want {
				t.Fatalf("%s %s: %d, want %d: %.300s", c.method, c.path, code, c.want, body)
			}
			if code == http.StatusOK {
				if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
					t.Errorf("Content-Security-Policy %q", csp)
				}
				if hdr.Get("X-Frame-Options") != "DENY" {
					t.Errorf("X-Frame-Options %q", hdr.Get("X-Frame-Options"))
				}
			}
		})
	}
	_, _, page := rawCall(t, s, "GET", "/", "", nil)
	if !strings.Contains(page, `src="/ui/app.js"`) || strings.Contains(page, "http://") && strings.Contains(page, "<script src=\"http") {
		t.Fatalf("the page does not load its own script only:\n%s", page)
	}
}

// GET /events streams a job's events as server-sent events, each data
// line a NodeEvent.
func TestEventsStream(t *testing.T) {
	s, _ := apiNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr().String()+Prefix+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != mediaSSE {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, ":") {
		t.Fatalf("first line %q, %v: want the stream's opening comment", l, err)
	}
	code, body := call(t, s, "POST", "/jobs", "", auth(map[string]string{"Content-Type": "application/yaml"}), jobYAML("events-stream"))
	if code != http.StatusOK {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sub SubmitResponse
	if err := json.Unmarshal([]byte(body), &sub); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before an event of job %s: %v", sub.ID, err)
		}
		data, ok := strings.CutPrefix(strings.TrimSpace(l), "data: ")
		if !ok {
			continue
		}
		var ev NodeEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		if ev.Kind == "job" && ev.Job != nil && ev.Job.ID == sub.ID {
			if ev.Job.Event.Type == "" || ev.Job.State == "" {
				t.Fatalf("incomplete event %s", data)
			}
			return
		}
	}
}
