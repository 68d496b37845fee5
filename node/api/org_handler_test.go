package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/node"
)

// repoNode is apiNode with a repo: the org routes keep their keys and
// certificates there.
func repoNode(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	if _, err := node.Init(dir, node.InitOptions{Profile: node.ProfileLocal}); err != nil {
		t.Fatal(err)
	}
	r, err := node.OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := apiNodeWith(t, nil, node.WithRepo(r))
	return s
}

func TestHandlerOrgsWithoutRepo(t *testing.T) {
	s, _ := apiNode(t)
	wantError(t, get(t, s, "/orgs"), http.StatusBadRequest, CodeBadRequest, "repo")
	wantError(t, post(t, s, "/orgs/acme/init", "", ""), http.StatusBadRequest, CodeBadRequest, "repo")
}

func TestHandlerOrgs(t *testing.T) {
	s := repoNode(t)
	var key node.OrgKeyInfo
	wantOK(t, post(t, s, "/orgs/acme/init", "", ""), &key)
	if key.Name != "acme" || key.PublicKey == "" {
		t.Fatalf("POST /orgs/acme/init = %+v", key)
	}
	wantError(t, post(t, s, "/orgs/acme/init", "", ""), http.StatusBadRequest, CodeBadRequest, "acme")

	self := s.n.ID().String()
	var cert node.CertInfo
	wantOK(t, post(t, s, "/orgs/acme/issue?peer="+self+"&role=requester&expires=1h", "", ""), &cert)
	if cert.Org != "acme" || cert.Peer != self || cert.Role != "requester" || !strings.Contains(cert.PEM, "BEGIN") {
		t.Fatalf("POST /orgs/acme/issue = %+v", cert)
	}
	wantError(t, post(t, s, "/orgs/acme/issue?peer=nobody", "", ""), http.StatusBadRequest, CodeBadRequest, `"nobody"`)
	wantError(t, post(t, s, "/orgs/acme/issue?peer="+self+"&role=king", "", ""), http.StatusBadRequest, CodeBadRequest, `"king"`)
	wantError(t, post(t, s, "/orgs/acme/issue?peer="+self+"&expires=-1h", "", ""), http.StatusBadRequest, CodeBadRequest, `"-1h"`)
	wantError(t, post(t, s, "/orgs/other/issue?peer="+self, "", ""), http.StatusNotFound, CodeNotFound)

	var joined node.CertInfo
	wantOK(t, post(t, s, "/orgs/join", "application/x-pem-file", cert.PEM), &joined)
	if joined.ID != cert.ID || joined.PEM != "" {
		t.Fatalf("POST /orgs/join = %+v, want certificate %s", joined, cert.ID)
	}
	wantError(t, post(t, s, "/orgs/join", "application/x-pem-file", "not a certificate"), http.StatusBadRequest, CodeBadRequest)
	wantError(t, post(t, s, "/orgs/join", "application/x-pem-file", strings.Repeat("x", maxCertBody+1)), http.StatusBadRequest, CodeBadRequest, "larger than")

	wantOK(t, post(t, s, "/orgs/acme/trust?key="+key.PublicKey, "", ""), nil)
	var info node.OrgInfo
	wantOK(t, get(t, s, "/orgs"), &info)
	if len(info.Keys) != 1 || len(info.Certs) != 1 || len(info.Trusted) != 1 || info.Trusted[0].Name != "acme" {
		t.Fatalf("GET /orgs = %+v, want acme's key, certificate and trust", info)
	}
	wantError(t, post(t, s, "/orgs/acme/trust?key=nonsense", "", ""), http.StatusBadRequest, CodeBadRequest)
	wantOK(t, post(t, s, "/orgs/acme/untrust", "", ""), nil)
	wantOK(t, post(t, s, "/orgs/acme/leave", "", ""), nil)
	wantOK(t, get(t, s, "/orgs"), &info)
	if len(info.Certs) != 0 || len(info.Trusted) != 0 {
		t.Fatalf("GET /orgs after leave and untrust = %+v", info)
	}

	other := "12D3KooWADaLiYPeeeTf5xWmr1XLyfjMUfr7CHc61x39UbhYfSos"
	var deny DenyResponse
	wantOK(t, post(t, s, "/orgs/deny?id="+other, "", ""), &deny)
	if deny.Entry != other || deny.Removed {
		t.Fatalf("POST /orgs/deny = %+v", deny)
	}
	var pol PolicyResponse
	wantOK(t, get(t, s, "/policy"), &pol)
	if !slices.Contains(pol.Deny, other) {
		t.Fatalf("GET /policy deny-list %v, want %s", pol.Deny, other)
	}
	wantOK(t, post(t, s, "/orgs/deny?id="+other+"&remove=1", "", ""), &deny)
	if !deny.Removed {
		t.Fatalf("POST /orgs/deny remove = %+v", deny)
	}
	wantError(t, post(t, s, "/orgs/deny?id=", "", ""), http.StatusBadRequest, CodeBadRequest)
}

func TestHandlerPolicy(t *testing.T) {
	s := repoNode(t)
	var pol PolicyResponse
	wantOK(t, get(t, s, "/policy"), &pol)
	if len(pol.Lines) == 0 || pol.Trusted == nil || pol.Deny == nil {
		t.Fatalf("GET /policy = %+v, want its lines and empty lists", pol)
	}
	put := func(body string) *httptest.ResponseRecorder {
		return serve(t, s, http.MethodPut, "/policy", "application/json", strings.NewReader(body))
	}
	wantOK(t, put(`{"engines": ["wasm"]}`), &pol)
	if !slices.Equal(pol.Policy.Engines, []string{"wasm"}) {
		t.Fatalf("PUT /policy = %+v, want engines [wasm]", pol.Policy)
	}
	wantError(t, put(`{"engines": [`), http.StatusBadRequest, CodeBadRequest, "unexpected EOF")
	wantError(t, put(`{"engine": ["wasm"]}`), http.StatusBadRequest, CodeBadRequest, `unknown field "engine"`)
	wantError(t, put(`{"engines": ["wasm"]}`+strings.Repeat(" ", policy.MaxDocumentSize)), http.StatusBadRequest, CodeBadRequest, "limit")

	var peers []map[string]any
	wantOK(t, get(t, s, "/policy/peers"), &peers)
}
