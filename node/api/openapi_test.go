package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/policy"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json and the README's table of routes")

// documented returns "METHOD /api/v0/path" of every route of the document
// served at GET /openapi.json.
func documented(t *testing.T, s *Server) []string {
	t.Helper()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	wantOK(t, get(t, s, "/openapi.json"), &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var out []string
	for path, ops := range doc.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// The document lists exactly the routes the server registers, with their
// methods, and the server serves every route it lists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, _ := apiNode(t)
	docs := documented(t, s)
	registered := slices.Sorted(slices.Values(s.patterns))
	for _, r := range registered {
		if !slices.Contains(docs, r) {
			t.Errorf("route %s is registered but not in the OpenAPI document (node/api/openapi.go routeDocs)", r)
		}
	}
	for _, d := range docs {
		if !slices.Contains(registered, d) {
			t.Errorf("the OpenAPI document lists %s, which the server does not register", d)
		}
		// And the mux routes a request of that method and path to it.
		method, path, _ := strings.Cut(d, " ")
		concrete := strings.NewReplacer("{id}", "bafyx", "{name}", "acme").Replace(path)
		req := httptest.NewRequest(method, "http://"+s.Addr().String()+concrete, nil)
		if _, pattern := s.mux.Handler(req); pattern != d {
			t.Errorf("%s %s goes to %q, want the documented route %s", method, concrete, pattern, d)
		}
	}
	if len(docs) != len(routeDocs) || len(docs) < 30 {
		t.Fatalf("%d documented routes, %d in routeDocs: a route documented twice?", len(docs), len(routeDocs))
	}
}

// The document is behind the token like every route.
func TestOpenAPINeedsToken(t *testing.T) {
	s, _ := apiNode(t)
	req := httptest.NewRequest(http.MethodGet, "http://"+s.Addr().String()+Prefix+"/openapi.json", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	wantError(t, rec, http.StatusUnauthorized, CodeUnauthorized, "missing API token")
}

// strictDecode decodes one JSON value into a new T of type typ, refusing
// unknown fields and trailing data.
func strictDecode(typ reflect.Type, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(reflect.New(typ).Interface()); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// Every example of the document decodes into the Go type the handler
// writes (responses, strictly) or reads (requests, through the handler's own
// parser), and every JSON body has one.
func TestOpenAPIExamplesDecode(t *testing.T) {
	n := 0
	for _, rd := range routeDocs {
		name := rd.Method + " " + rd.Path
		check := func(what string, b bodyDoc) {
			if b.Type == nil {
				if b.Example != "" {
					t.Errorf("%s %s: an example without a type", name, what)
				}
				return
			}
			if b.Example == "" {
				t.Errorf("%s %s: no example", name, what)
				return
			}
			n++
			if !json.Valid([]byte(b.Example)) {
				t.Errorf("%s %s: example is not JSON: %s", name, what, b.Example)
				return
			}
			var err error
			switch b.Type {
			case typeOf[specDoc]():
				_, err = jobspec.Parse([]byte(b.Example), "spec.json")
			case typeOf[policy.Policy]():
				_, err = policy.Parse([]byte(b.Example))
			}
			if err == nil {
				err = strictDecode(b.Type, []byte(b.Example))
			}
			if err != nil {
				t.Errorf("%s %s: example does not decode into %s: %v\n%s", name, what, b.Type, err, b.Example)
			}
		}
		check("response", rd.Resp)
		if rd.Body != nil {
			check("request", *rd.Body)
		}
	}
	if n < 30 {
		t.Fatalf("only %d examples checked", n)
	}
	// A wrong example is caught: an unknown field, a wrong type.
	if strictDecode(typeOf[SubmitResponse](), []byte(`{"id":"x","existing":false,"state":"pending","extra":1}`)) == nil ||
		strictDecode(typeOf[GCResponse](), []byte(`{"removed":"three"}`)) == nil {
		t.Fatal("strictDecode accepts what the handler type does not have")
	}
}

// Every $ref points at a schema of the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	b, err := json.Marshal(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	refs := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok && strings.HasPrefix(r, "#/components/schemas/") {
				refs++
				if schemas[strings.TrimPrefix(r, "#/components/schemas/")] == nil {
					t.Errorf("$ref %s: no such schema", r)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if refs < 20 {
		t.Fatalf("only %d schema references", refs)
	}
}

const (
	readmeBegin = "<!-- api-routes:begin (generated: go generate ./node/api) -->\n"
	readmeEnd   = "<!-- api-routes:end -->"
)

// docs/openapi.json is the document the daemon serves, and the README's
// table of routes is made from it; `go generate ./node/api` (this test with
// -update) rewrites both.
func TestAPIDocsUpToDate(t *testing.T) {
	want, err := json.MarshalIndent(OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const docFile, readme = "../../docs/openapi.json", "../../README.md"
	r, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(r), readmeBegin)
	_, after, ok2 := strings.Cut(rest, readmeEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README.md has no %q ... %q section", readmeBegin, readmeEnd)
	}
	newReadme := before + readmeBegin + RoutesMarkdown() + readmeEnd + after
	if *update {
		if err := os.WriteFile(docFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readme, []byte(newReadme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docFile)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("docs/openapi.json is not the document the daemon serves (%v): run go generate ./node/api", err)
	}
	if newReadme != string(r) {
		t.Errorf("README.md's table of routes is not the document's: run go generate ./node/api; want\n%s", RoutesMarkdown())
	}
}
