package api

import (
	"net/http"
	"testing"

	"github.com/shoalnet/shoal/node"
)

func TestHandlerID(t *testing.T) {
	s, _ := apiNode(t)
	var id IDResponse
	wantOK(t, get(t, s, "/id"), &id)
	if id.ID != s.n.ID().String() || id.Version != node.Version || len(id.Addrs) == 0 || len(id.Engines) == 0 {
		t.Fatalf("GET /id = %+v, want this node (%s, version %s) with addrs and engines", id, s.n.ID(), node.Version)
	}
	var v VersionResponse
	wantOK(t, get(t, s, "/version"), &v)
	if v.Version != node.Version || v.Go == "" {
		t.Fatalf("GET /version = %+v", v)
	}
}

func TestHandlerPeers(t *testing.T) {
	s, _ := apiNode(t)
	var peers []Peer
	wantOK(t, get(t, s, "/peers"), &peers)
	if peers == nil || len(peers) != 0 {
		t.Fatalf("GET /peers of a node alone = %#v, want []", peers)
	}
	wantOK(t, get(t, s, "/peers?min=0&timeout=1s"), &peers)
	wantError(t, get(t, s, "/peers?min=many"), http.StatusBadRequest, CodeBadRequest, `"many"`)
	wantError(t, get(t, s, "/peers?min=-1"), http.StatusBadRequest, CodeBadRequest, `"-1"`)
	wantError(t, get(t, s, "/peers?min=1&timeout=soon"), http.StatusBadRequest, CodeBadRequest, `"soon"`, "10s")
	wantError(t, get(t, s, "/peers?min=1&timeout=50ms"), http.StatusGatewayTimeout, CodeTimeout, "fewer than 1 peers")
}

func TestHandlerNodes(t *testing.T) {
	s, _ := apiNode(t)
	var nodes NodesResponse
	wantOK(t, get(t, s, "/nodes?timeout=200ms"), &nodes)
	if nodes.Nodes == nil {
		t.Fatal(`GET /nodes: "nodes" is null, want a list`)
	}
	wantError(t, get(t, s, "/nodes?label=gpu"), http.StatusBadRequest, CodeBadRequest, `"gpu"`, "key=value")
	wantError(t, get(t, s, "/nodes?min=x"), http.StatusBadRequest, CodeBadRequest, `"x"`)
	wantError(t, get(t, s, "/nodes?timeout=0s"), http.StatusBadRequest, CodeBadRequest, `"0s"`)
	wantError(t, get(t, s, "/nodes?min=3&timeout=100ms"), http.StatusGatewayTimeout, CodeTimeout, "of the 3 nodes")
}

// A path that is an endpoint under another method is 405 with Allow, not
// the catch-all's 404; a path that is none is 404 not_found.
func TestHandlerMethodNotAllowed(t *testing.T) {
	s, _ := apiNode(t)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/jobs", "GET, POST"},
		{http.MethodPut, "/id", "GET"},
		{http.MethodPost, "/version", "GET"},
		{http.MethodGet, "/jobs/bafyx/cancel", "POST"},
		{http.MethodPost, "/jobs/bafyx", "GET"},
		{http.MethodGet, "/add", "POST"},
		{http.MethodPost, "/policy", "GET, PUT"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			rec := serve(t, s, tc.method, tc.path, "", nil)
			wantError(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed, tc.method, "takes")
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	wantError(t, get(t, s, "/nope"), http.StatusNotFound, CodeNotFound, "no such endpoint")
	wantError(t, serve(t, s, http.MethodDelete, "/nope", "", nil), http.StatusNotFound, CodeNotFound, "no such endpoint")
}
