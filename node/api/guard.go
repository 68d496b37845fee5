package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The media types a mutating call (POST, PUT, PATCH, DELETE) may carry. None
// is one a web page can send without a CORS preflight (text/plain,
// application/x-www-form-urlencoded, multipart/form-data, or no type at all),
// and the server answers no preflight, so no page can send them.
var mutatingTypes = map[string]bool{
	"application/json":       true,
	"application/yaml":       true, // what the CLI sends for a YAML job spec
	"application/x-yaml":     true,
	"application/x-pem-file": true, // org join: a certificate file
	mediaCAR:                 true, // POST /car: a CAR to import
}

// multipartPaths may take a multipart body (file uploads); multipart is a
// type any page may send, so there only the token and the Host/Origin
// checks protect them.
var multipartPaths = map[string]bool{Prefix + "/add": true}

// guard decides whether a request may reach the API at all: the Host it
// names, where it comes from (Origin, Sec-Fetch-Site, Referer), the token and
// the media type of a mutating call, in that order.
type guard struct {
	tokenSum [sha256.Size]byte
	// hosts are the Host values of this API, lowercased host:port.
	hosts map[string]bool
	// port is the API's port; anyIP accepts an IP literal with that port
	// as Host (bound to 0.0.0.0 or ::, where the machine has many IPs; a
	// DNS rebinding attack needs a name, never a literal).
	port  string
	anyIP bool
}

// newGuard is the guard of an API bound to ln, configured as addr.
func newGuard(token, addr string, ln net.Addr) *guard {
	g := &guard{tokenSum: sha256.Sum256([]byte(token)), hosts: map[string]bool{}}
	cfgHost, _, _ := net.SplitHostPort(addr)
	lnHost, port, _ := net.SplitHostPort(ln.String())
	g.port = port
	for _, h := range []string{"127.0.0.1", "localhost", "::1", cfgHost, lnHost} {
		ip := net.ParseIP(h)
		switch {
		case h == "":
			g.anyIP = true
		case ip != nil && ip.IsUnspecified():
			g.anyIP = true
		default:
			g.hosts[strings.ToLower(net.JoinHostPort(h, port))] = true
		}
	}
	return g
}

// check returns nil when r may be served, else the *Error to answer.
func (g *guard) check(r *http.Request) *Error {
	if !g.hostOK(r.Host) {
		return Errorf(http.StatusForbidden, CodeForbidden, "refused Host %q: this API answers only to its own address (%s); a web page that renamed it (DNS rebinding) cannot use it", r.Host, g.example())
	}
	if o := r.Header.Get("Origin"); o != "" && !g.originOK(o) {
		return Errorf(http.StatusForbidden, CodeForbidden, "refused request from origin %q: web pages of other origins may not use this API", o)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return Errorf(http.StatusForbidden, CodeForbidden, "refused %s request (Sec-Fetch-Site): web pages of other origins may not use this API", s)
	}
	if ref := r.Header.Get("Referer"); ref != "" && r.Header.Get("Origin") == "" && !g.originOK(ref) {
		return Errorf(http.StatusForbidden, CodeForbidden, "refused request from page %q (Referer): web pages of other origins may not use this API", ref)
	}
	if publicPath(r.Method, r.URL.Path) {
		return nil // the dashboard's static page: no data (dashboard.go)
	}
	if e := g.tokenOK(r.Header.Get("Authorization")); e != nil {
		return e
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mutatingTypes[mt] || (multipartPaths[r.URL.Path] && (mt == "multipart/form-data" || mt == "multipart/mixed"))) {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "%s %s needs Content-Type application/json (or application/yaml for a job spec), not %q: types that web pages can send are refused (an empty body is fine: curl -X %s -H 'Content-Type: application/json')", r.Method, r.URL.Path, ct, r.Method)
}

func (g *guard) example() string {
	return net.JoinHostPort("127.0.0.1", g.port)
}

func (g *guard) hostOK(host string) bool {
	host = strings.ToLower(host)
	h, port, err := net.SplitHostPort(host)
	if err != nil { // no port: the default one
		h, port = strings.Trim(host, "[]"), "80"
	}
	if port != g.port {
		return false
	}
	if g.hosts[net.JoinHostPort(h, port)] {
		return true
	}
	return g.anyIP && net.ParseIP(h) != nil
}

// originOK reports whether origin (an Origin or Referer value) is a page
// of this API.
func (g *guard) originOK(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return false // also "null": sandboxed frames, file: pages
	}
	return g.hostOK(u.Host)
}

func (g *guard) tokenOK(auth string) *Error {
	if auth == "" {
		return Errorf(http.StatusUnauthorized, CodeUnauthorized, "missing API token: send Authorization: Bearer TOKEN with the token of the daemon's repo ($SHOAL_PATH/api.token)")
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !ok || subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) != 1 {
		return Errorf(http.StatusUnauthorized, CodeUnauthorized, "wrong API token: use the one in the daemon's repo ($SHOAL_PATH/api.token), sent as Authorization: Bearer TOKEN")
	}
	return nil
}
