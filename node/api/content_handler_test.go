package api

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/ipfs/boxo/files"

	"github.com/shoalnet/shoal/content"
)

// addFile adds one file through POST /add and returns its CID. POST /add
// streams progress while the upload comes in (full duplex), which
// httptest's recorder cannot do: this one goes through the real listener,
// with the client the CLI uses.
func addFile(t *testing.T, s *Server, name, data string) string {
	t.Helper()
	c, err := NewClient(s.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	dir := files.NewSliceDirectory([]files.DirEntry{files.FileEntry(name, files.NewBytesFile([]byte(data)))})
	added, err := c.Add(context.Background(), dir, AddParams{Pin: true}, nil)
	if err != nil {
		t.Fatalf("POST /add: %v", err)
	}
	if len(added) != 1 || added[0].Name != name || added[0].CID == "" {
		t.Fatalf("POST /add of %s = %+v, want one entry with its CID", name, added)
	}
	return added[0].CID
}

// addDir adds a directory holding a.txt and b.txt straight to s's store.
func addDir(t *testing.T, s *Server) string {
	t.Helper()
	dir := files.NewMapDirectory(map[string]files.Node{
		"a.txt": files.NewBytesFile([]byte("alpha")),
		"b.txt": files.NewBytesFile([]byte("beta!")),
	})
	c, err := s.n.Content.Add(context.Background(), dir, content.AddOptions{Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}

func TestHandlerAddCatStat(t *testing.T) {
	s, _ := apiNode(t)
	id := addFile(t, s, "hello.txt", "hello, shoal")
	rec := get(t, s, "/cat?arg="+id)
	if rec.Code != http.StatusOK || rec.Body.String() != "hello, shoal" {
		t.Fatalf("GET /cat: status %d, body %q", rec.Code, rec.Body)
	}
	var st StatResponse
	wantOK(t, get(t, s, "/stat?arg="+id), &st)
	if st.CID != id || st.Type != "file" || st.Size != 12 || !st.Local || st.LocalBytes == 0 {
		t.Fatalf("GET /stat = %+v", st)
	}
	dir := addDir(t, s)
	wantError(t, get(t, s, "/cat?arg="+dir), http.StatusBadRequest, CodeBadRequest)

	// The refusals come before the upload is read: httptest can serve them.
	wantError(t, post(t, s, "/add", "application/json", "{}"), http.StatusBadRequest, CodeBadRequest, "multipart")
	wantError(t, serve(t, s, http.MethodPost, "/add?cid-version=7", "multipart/form-data; boundary=x", nil), http.StatusBadRequest, CodeBadRequest, `"7"`)
	wantError(t, serve(t, s, http.MethodPost, "/add?pin=maybe", "multipart/form-data; boundary=x", nil), http.StatusBadRequest, CodeBadRequest, `"maybe"`)
}

func TestHandlerLsGetFetch(t *testing.T) {
	s, _ := apiNode(t)
	dir := addDir(t, s)
	var ls []LsEntry
	wantOK(t, get(t, s, "/ls?arg="+dir), &ls)
	if len(ls) != 2 || ls[0].Name != "a.txt" || ls[1].Name != "b.txt" || ls[0].Size != 5 || ls[0].Type != "file" {
		t.Fatalf("GET /ls = %+v", ls)
	}

	rec := get(t, s, "/get?arg="+dir+"&name=out")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/x-tar" {
		t.Fatalf("GET /get: status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var names []string
	tr := tar.NewReader(rec.Body)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("GET /get: not a tar archive: %v", err)
		}
		names = append(names, h.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"out", "out/a.txt", "out/b.txt"}) {
		t.Fatalf("GET /get archive holds %q", names)
	}
	wantError(t, get(t, s, "/get?arg="+dir+"&name=../up"), http.StatusBadRequest, CodeBadRequest, "name")

	rec = post(t, s, "/fetch?arg="+dir, "", "")
	lines := ndjsonLines[FetchEvent](t, rec)
	if rec.Code != http.StatusOK || len(lines) == 0 || !lines[len(lines)-1].Done || lines[len(lines)-1].Error != nil {
		t.Fatalf("POST /fetch of a local DAG: status %d, lines %+v", rec.Code, lines)
	}
}

func TestHandlerPinsGC(t *testing.T) {
	s, _ := apiNode(t)
	id := addFile(t, s, "pinned.txt", "keep me")
	var pins []PinEntry
	wantOK(t, get(t, s, "/pin/ls"), &pins)
	if !slices.Contains(pins, PinEntry{CID: id, Type: "recursive"}) {
		t.Fatalf("GET /pin/ls = %+v, want %s recursive", pins, id)
	}
	var p PinEntry
	wantOK(t, post(t, s, "/pin/rm?arg="+id, "", ""), &p)
	if p.CID != id {
		t.Fatalf("POST /pin/rm = %+v", p)
	}
	wantError(t, post(t, s, "/pin/rm?arg="+id, "", ""), http.StatusNotFound, CodeNotFound)
	wantOK(t, post(t, s, "/pin/add?arg="+id, "", ""), &p)
	if p != (PinEntry{CID: id, Type: "recursive"}) {
		t.Fatalf("POST /pin/add = %+v", p)
	}
	other := addFile(t, s, "direct.txt", "pin me directly")
	wantOK(t, post(t, s, "/pin/rm?arg="+other, "", ""), nil)
	wantOK(t, post(t, s, "/pin/add?arg="+other+"&recursive=false", "", ""), &p)
	if p != (PinEntry{CID: other, Type: "direct"}) {
		t.Fatalf("POST /pin/add recursive=false = %+v", p)
	}
	// A direct pin over a recursive one is the user's mistake, as kubo
	// says it ("already pinned recursively"), not a server error; the
	// recursive pin stays.
	wantError(t, post(t, s, "/pin/add?arg="+id+"&recursive=false", "", ""), http.StatusConflict, CodeConflict, id, "already pinned recursively")
	wantOK(t, get(t, s, "/pin/ls"), &pins)
	if !slices.Contains(pins, PinEntry{CID: id, Type: "recursive"}) || slices.Contains(pins, PinEntry{CID: id, Type: "direct"}) {
		t.Fatalf("GET /pin/ls after the refused direct pin = %+v, want %s recursive only", pins, id)
	}
	// A recursive pin over a direct one replaces it; a direct pin again
	// is no change.
	wantOK(t, post(t, s, "/pin/add?arg="+other+"&recursive=false", "", ""), &p)
	wantOK(t, post(t, s, "/pin/add?arg="+other, "", ""), &p)
	wantOK(t, get(t, s, "/pin/ls"), &pins)
	if !slices.Contains(pins, PinEntry{CID: other, Type: "recursive"}) || slices.Contains(pins, PinEntry{CID: other, Type: "direct"}) {
		t.Fatalf("GET /pin/ls after the recursive pin over a direct one = %+v", pins)
	}
	wantError(t, post(t, s, "/pin/add?arg="+id+"&recursive=maybe", "", ""), http.StatusBadRequest, CodeBadRequest, `"maybe"`)
	var gc GCResponse
	wantOK(t, post(t, s, "/gc", "", ""), &gc)
	if rec := get(t, s, "/cat?arg="+id); rec.Code != http.StatusOK {
		t.Fatalf("pinned content gone after GC: %d %s", rec.Code, rec.Body)
	}
}

// Every route taking a CID refuses a malformed one, and a missing one, with
// 400 bad_request naming the value.
func TestHandlerBadCID(t *testing.T) {
	s, _ := apiNode(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/cat"}, {http.MethodGet, "/get"}, {http.MethodGet, "/ls"}, {http.MethodGet, "/stat"},
		{http.MethodPost, "/fetch"}, {http.MethodPost, "/pin/add"}, {http.MethodPost, "/pin/rm"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			wantError(t, serve(t, s, tc.method, tc.path+"?arg=bafy-not-a-cid", "", nil), http.StatusBadRequest, CodeBadRequest, "bafy-not-a-cid")
			wantError(t, serve(t, s, tc.method, tc.path, "", nil), http.StatusBadRequest, CodeBadRequest, "missing ?arg=CID")
		})
	}
}
