package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/node"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// jobYAML is a valid job spec named name: accepted when sent as the CLI
// sends it (the name makes each one a new job).
func jobYAML(name string) string {
	return "name: " + strings.NewReplacer(" ", "-", "/", "-", ";", "-", "=", "-").Replace(name) + "\nengine:\n  wasm:\n    module: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n"
}

// apiNode is a real in-memory node serving its API on 127.0.0.1 with
// testToken. It returns the server and its port.
func apiNode(t *testing.T) (*Server, string) {
	t.Helper()
	return apiNodeWith(t, nil)
}

// apiNodeWith is apiNode with its config changed by mutate (when set) and
// built with opts (node.WithRepo for a node with a repo).
func apiNodeWith(t *testing.T, mutate func(*node.Config), opts ...node.Option) (*Server, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := node.DefaultConfig(node.ProfileLocal)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Jobs.DisableDocker = true
	if mutate != nil {
		mutate(cfg)
	}
	n, err := node.New(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	s, err := Listen(n, "127.0.0.1:0", testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	_, port, _ := net.SplitHostPort(s.Addr().String())
	return s, port
}

// call sends one raw request to s: Host and headers as given, dialled to
// the server's real address whatever Host says.
func call(t *testing.T, s *Server, method, path, host string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr().String()+Prefix+path, strings.NewReader(body))
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
	return resp.StatusCode, string(b)
}

func auth(h map[string]string) map[string]string {
	out := map[string]string{"Authorization": "Bearer " + testToken}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func jobCount(t *testing.T, s *Server) int {
	t.Helper()
	c, err := NewClient(s.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []json.RawMessage
	if err := c.GetJSON(context.Background(), "/jobs", nil, &jobs); err != nil {
		t.Fatal(err)
	}
	return len(jobs)
}

// DNS rebinding: a page on evil.example whose name now resolves to
// 127.0.0.1 sends Host: evil.example:PORT, and could read the answer.
func TestAPIRefusesForeignHost(t *testing.T) {
	s, port := apiNode(t)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example:" + port, http.StatusForbidden},
		{"evil.example", http.StatusForbidden},
		{"127.0.0.1.nip.io:" + port, http.StatusForbidden},
		{"127.0.0.1:1", http.StatusForbidden}, // another port: another origin
		{"10.1.2.3:" + port, http.StatusForbidden},
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, body := call(t, s, "GET", "/id", tc.host, auth(nil), "")
			if got != tc.want {
				t.Fatalf("Host %q: status %d, want %d: %s", tc.host, got, tc.want, body)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(body, `"forbidden"`) {
				t.Fatalf("Host %q: body %s, want code forbidden", tc.host, body)
			}
		})
	}
}

// CSRF: a page's fetch() or form carries Origin (and Sec-Fetch-Site in
// current browsers); a no-cors request would be sent even unreadable.
func TestAPIRefusesCrossOrigin(t *testing.T) {
	s, port := apiNode(t)
	own := "http://127.0.0.1:" + port
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"foreign origin", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"null origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"other local port", map[string]string{"Origin": "http://127.0.0.1:8080"}, http.StatusForbidden},
		{"https of us", map[string]string{"Origin": "https://127.0.0.1:" + port}, http.StatusForbidden},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign referer", map[string]string{"Referer": "http://evil.example/page.html"}, http.StatusForbidden},
		{"own origin", map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"own referer", map[string]string{"Referer": own + "/"}, http.StatusOK},
		{"typed URL", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := jobCount(t, s)
			hdr := auth(tc.hdr)
			hdr["Content-Type"] = "application/yaml"
			got, body := call(t, s, "POST", "/jobs", "", hdr, jobYAML(tc.name))
			if got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, body)
			}
			if tc.want == http.StatusForbidden {
				if n := jobCount(t, s); n != before {
					t.Fatalf("refused request created a job: %d jobs, had %d", n, before)
				}
				// GETs too: their answers must not reach the page.
				if got, body := call(t, s, "GET", "/id", "", auth(tc.hdr), ""); got != http.StatusForbidden {
					t.Fatalf("GET /id: status %d, want 403: %s", got, body)
				}
			}
		})
	}
}

// A page may POST text/plain, form-urlencoded or multipart, or a body-less
// fetch with no type, without a preflight: no mutating call takes them.
func TestAPIRefusesSimpleContentTypes(t *testing.T) {
	s, _ := apiNode(t)
	for _, tc := range []struct {
		name, method, path, ct string
		want                   int
	}{
		{"text/plain job", "POST", "/jobs", "text/plain", http.StatusUnsupportedMediaType},
		{"text/plain charset job", "POST", "/jobs", "text/plain;charset=UTF-8", http.StatusUnsupportedMediaType},
		{"form job", "POST", "/jobs", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart job", "POST", "/jobs", "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"no type job", "POST", "/jobs", "", http.StatusUnsupportedMediaType},
		{"no type gc", "POST", "/gc", "", http.StatusUnsupportedMediaType},
		{"text/plain org init", "POST", "/orgs/acme/init", "text/plain", http.StatusUnsupportedMediaType},
		{"form policy", "PUT", "/policy", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"yaml job", "POST", "/jobs", "application/yaml", http.StatusOK},
		{"x-yaml job", "POST", "/jobs", "application/x-yaml", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := jobCount(t, s)
			hdr := auth(nil)
			if tc.ct != "" {
				hdr["Content-Type"] = tc.ct
			}
			body := jobYAML(tc.name)
			if tc.path != "/jobs" {
				body = ""
			}
			got, resp := call(t, s, tc.method, tc.path, "", hdr, body)
			if got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, resp)
			}
			after := jobCount(t, s)
			if tc.want != http.StatusOK && after != before {
				t.Fatalf("refused request created a job: %d jobs, had %d", after, before)
			}
			if tc.want == http.StatusOK && tc.path == "/jobs" && after != before+1 {
				t.Fatalf("accepted job not listed: %d jobs, had %d", after, before)
			}
		})
	}
}

// Every request needs the token, loopback included: other local users (and
// pages, whose requests carry no Authorization) are refused.
func TestAPIRequiresToken(t *testing.T) {
	s, _ := apiNode(t)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer " + strings.Repeat("0", len(testToken)), http.StatusUnauthorized},
		{"prefix", "Bearer " + testToken[:10], http.StatusUnauthorized},
		{"longer", "Bearer " + testToken + "0", http.StatusUnauthorized},
		{"basic", "Basic " + testToken, http.StatusUnauthorized},
		{"bare", testToken, http.StatusUnauthorized},
		{"right", "Bearer " + testToken, http.StatusOK},
	} {
		for _, path := range []string{"/id", "/version", "/jobs"} {
			t.Run(tc.name+path, func(t *testing.T) {
				hdr := map[string]string{}
				if tc.auth != "" {
					hdr["Authorization"] = tc.auth
				}
				got, body := call(t, s, "GET", path, "", hdr, "")
				if got != tc.want {
					t.Fatalf("status %d, want %d: %s", got, tc.want, body)
				}
			})
		}
	}
	// A job submitted without the token is not created.
	got, body := call(t, s, "POST", "/jobs", "", map[string]string{"Content-Type": "application/yaml"}, jobYAML("no-token"))
	if got != http.StatusUnauthorized || jobCount(t, s) != 0 {
		t.Fatalf("POST /jobs without token: status %d (%s), %d jobs; want 401 and none", got, body, jobCount(t, s))
	}
	// The client sends it; a client with another token gets a typed error.
	good, _ := NewClient(s.Addr().String(), testToken)
	if _, err := good.ID(context.Background()); err != nil {
		t.Fatalf("client with the token: %v", err)
	}
	bad, _ := NewClient(s.Addr().String(), "nope")
	var e *Error
	if _, err := bad.ID(context.Background()); !errors.As(err, &e) || e.Code != CodeUnauthorized {
		t.Fatalf("client with a wrong token: %v, want code %s", err, CodeUnauthorized)
	}
}

// add takes multipart (a CORS-simple type): the token and the Origin check
// are what protect it.
func TestAPIAddMultipartGuarded(t *testing.T) {
	s, _ := apiNode(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "a.txt")
	_, _ = fw.Write([]byte("hello"))
	_ = mw.Close()
	ct := mw.FormDataContentType()
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", map[string]string{"Content-Type": ct}, http.StatusUnauthorized},
		{"foreign origin", auth(map[string]string{"Content-Type": ct, "Origin": "http://evil.example"}), http.StatusForbidden},
		{"token", auth(map[string]string{"Content-Type": ct}), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, body := call(t, s, "POST", "/add", "", tc.hdr, buf.String())
			if got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, body)
			}
		})
	}
}

func TestListenRefusesEmptyToken(t *testing.T) {
	if _, err := Listen(nil, "127.0.0.1:0", ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Listen without a token: %v, want ErrNoToken", err)
	}
}

// Bound to 0.0.0.0 the API answers to its configured and IP-literal names
// (which no DNS rebinding can produce), never to another name.
func TestGuardHostsOffLoopback(t *testing.T) {
	ln := &net.TCPAddr{IP: net.IPv4zero, Port: 5280}
	g := newGuard(testToken, "0.0.0.0:5280", ln)
	named := newGuard(testToken, "api.example.org:5280", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5280})
	for _, tc := range []struct {
		g    *guard
		host string
		want bool
	}{
		{g, "192.0.2.7:5280", true},
		{g, "[2001:db8::1]:5280", true},
		{g, "localhost:5280", true},
		{g, "evil.example:5280", false},
		{g, "192.0.2.7:5281", false},
		{named, "api.example.org:5280", true},
		{named, "192.0.2.7:5280", true},
		{named, "192.0.2.8:5280", false},
		{named, "evil.example:5280", false},
	} {
		if got := tc.g.hostOK(tc.host); got != tc.want {
			t.Errorf("hostOK(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
