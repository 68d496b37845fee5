package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/node"
)

// The API described: routeDocs is the one list of the API's routes, from
// which GET /openapi.json builds an OpenAPI 3 document (schemas from the Go
// types by reflection) and the README's table of routes is checked
// (openapi_test.go). A test compares it with the routes Handle registered,
// both ways, and decodes every example into its Go type strictly.

// Media types of the API's bodies.
const (
	mediaJSON   = "application/json"
	mediaNDJSON = "application/x-ndjson"
	mediaYAML   = "application/yaml"
	mediaOctets = "application/octet-stream"
	mediaTar    = "application/x-tar"
	mediaForm   = "multipart/form-data"
	mediaPEM    = "application/x-pem-file"
)

// routeDoc describes one route.
type routeDoc struct {
	Method  string
	Path    string // under Prefix, as given to Handle: "/jobs/{id}"
	Summary string
	Query   []paramDoc
	Body    *bodyDoc // the request body, if any
	Resp    bodyDoc  // the 200 response
}

type paramDoc struct {
	Name, Type, Desc string // Type: string, integer, boolean
	Required         bool
	Repeat           bool // may be given more than once
}

// bodyDoc is a body: its media types, the Go type of its JSON (of each line,
// for NDJSON; nil for bytes), and an example of it as JSON text.
type bodyDoc struct {
	Media   []string
	Type    reflect.Type
	Example string
	Desc    string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var argParam = paramDoc{Name: "arg", Type: "string", Desc: "a CID", Required: true}

func jsonResp[T any](example string) bodyDoc {
	return bodyDoc{Media: []string{mediaJSON}, Type: typeOf[T](), Example: example}
}

func ndjsonResp[T any](desc, example string) bodyDoc {
	return bodyDoc{Media: []string{mediaNDJSON}, Type: typeOf[T](), Example: example, Desc: desc}
}

const (
	exPeer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	exJob  = "bafyreieznw5vnocuovxtwfyrvijwwk3mp6j4fyn6ad5mg5ptfd5fg5twai"
	exCID  = "bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya"
	exTime = "2025-01-02T15:04:05Z"
)

var exEvent = `{"time":"` + exTime + `","type":"state","state":"completed","message":"completed on ` + exPeer + `"}`

var exJobRecord = `{"id":"` + exJob + `","name":"hello","type":"batch","engine":"wasm","count":1,"state":"completed","created":"` + exTime + `","updated":"` + exTime + `","attempts":1,
"bids":[{"peer":"` + exPeer + `","local_bytes":2048,"total_bytes":2048,"free_slots":3,"queue_depth":0,"est_start":0,"received":"` + exTime + `"}],
"awards":[{"id":"0f3a","executor":"` + exPeer + `","state":"completed","time":"` + exTime + `","accepted":"` + exTime + `"}],
"receipts":[{"cid":"` + exCID + `","award_id":"0f3a","executor":"` + exPeer + `","exit_code":0,"outputs":"` + exCID + `","stdout":"` + exCID + `","stderr":"` + exCID + `","started":"` + exTime + `","finished":"` + exTime + `"}],
"events":[` + exEvent + `]}`

var exWorkflow = `{"id":"` + exJob + `","name":"wordcount","state":"completed","created":"` + exTime + `","updated":"` + exTime + `","version":7,"steps":[{"name":"map","state":"completed","job":"` + exJob + `","executor":"` + exPeer + `","outputs":"` + exCID + `","input_bytes":2048}]}`

var exCert = `{"id":"` + exCID + `","org":"acme","org_key":"ed25519:4f1c","peer":"` + exPeer + `","role":"both","issued":"` + exTime + `","expires":"` + exTime + `"}`

var exPolicy = `{"policy":{"engines":["wasm"],"max_resources":{"memory":"1GiB"}},"lines":[{"key":"engines","value":"wasm"}],"trusted_orgs":["acme"],"deny":[]}`

// routeDocs are the API's routes. Keep them in the order of the README's
// table.
var routeDocs = []routeDoc{
	{Method: "GET", Path: "/id", Summary: "the node: peer ID, addresses, engines, peers",
		Resp: jsonResp[IDResponse](`{"id":"` + exPeer + `","addrs":["/ip4/127.0.0.1/tcp/4001/p2p/` + exPeer + `"],"version":"0.1.0","engines":["wasm"],"peers":2,"private_network":false,"topic_peers":2}`)},
	{Method: "GET", Path: "/version", Summary: "the daemon's version",
		Resp: jsonResp[VersionResponse](`{"version":"0.1.0","go":"go1.26.8"}`)},
	{Method: "GET", Path: "/peers", Summary: "connected peers, optionally after waiting for some",
		Query: []paramDoc{{Name: "min", Type: "integer", Desc: "wait until this many peers are connected"}, {Name: "timeout", Type: "string", Desc: "bound on the wait (a duration, default 10s)"}, {Name: "topic", Type: "string", Desc: "set: also wait for min peers on the job topic"}},
		Resp:  jsonResp[[]Peer](`[{"id":"` + exPeer + `","addr":"/ip4/127.0.0.1/tcp/4001","direction":"outbound","connection":"direct","latency_ms":0.4}]`)},
	{Method: "GET", Path: "/doctor", Summary: "reachability, relays, hole punches, bootstrap peers, engines and repo, with what to do about each problem",
		Resp: jsonResp[node.DoctorReport](`{"peer":"` + exPeer + `","reachability":"private","why":"AutoNAT: peers could not dial back to this node's observed addresses","listen_addrs":["/ip4/10.1.0.2/tcp/4280"],"advertised_addrs":["/ip4/100.64.0.1/tcp/4280/p2p/` + exPeer + `/p2p-circuit"],"relays_in_use":["` + exPeer + `"],"hole_punches":[{"peer":"` + exPeer + `","at":"` + exTime + `","kind":"hole_punch","attempt":1,"success":true,"took_ns":2100000}],"bootstrap":[{"peer":"` + exPeer + `","connection":"direct"}],"peers":{"direct":2,"relayed":0},"engines":["wasm"],"docker":"not reachable","repo":"ok","problems":[{"what":"the Docker Engine is not reachable: docker jobs are not offered","fix":"start dockerd, or set DOCKER_HOST"}]}`)},
	{Method: "GET", Path: "/nodes", Summary: "nodes found in the DHT, with capabilities and load",
		Query: []paramDoc{{Name: "engine", Type: "string", Desc: "only nodes running this engine"}, {Name: "label", Type: "string", Desc: "key=value: only nodes with this label", Repeat: true}, {Name: "min", Type: "integer", Desc: "wait until this many are found"}, {Name: "timeout", Type: "string", Desc: "bound on the search (default 10s)"}},
		Resp:  jsonResp[NodesResponse](`{"nodes":[{"v":1,"peer":"` + exPeer + `","seq":3,"expires":"` + exTime + `","engines":["wasm"],"cpu":2,"memory":4294967296,"disk":10737418240,"load":{"running":0,"queued":0,"free_slots":2},"software":"shoal/0.1.0"}]}`)},

	{Method: "POST", Path: "/add", Summary: "import files (a multipart body, as kubo's API) as UnixFS; progress and CIDs as NDJSON",
		Query: []paramDoc{{Name: "cid-version", Type: "integer", Desc: "0 or 1 (default 1)"}, {Name: "raw-leaves", Type: "boolean", Desc: "default true for CIDv1"}, {Name: "chunker", Type: "string", Desc: "size-N (default size-262144)"}, {Name: "max-links", Type: "integer", Desc: "links per file node (default 174)"}, {Name: "pin", Type: "boolean", Desc: "default true"}},
		Body:  &bodyDoc{Media: []string{mediaForm}, Desc: "boxo's files format: one part per file or directory entry"},
		Resp:  ndjsonResp[AddEvent]("progress lines carry bytes; each top-level entry gives a line with name and cid", `{"bytes":12,"name":"hello.txt","cid":"`+exCID+`"}`)},
	{Method: "POST", Path: "/fetch", Summary: "make a DAG local (bounded by jobs.max_output_bytes); progress as NDJSON",
		Query: []paramDoc{argParam},
		Resp:  ndjsonResp[FetchEvent]("progress lines, then one with done (or error)", `{"bytes":2048,"blocks":2,"total":2048,"done":true}`)},
	{Method: "GET", Path: "/cat", Summary: "the bytes of a UnixFS file",
		Query: []paramDoc{argParam}, Resp: bodyDoc{Media: []string{mediaOctets}}},
	{Method: "GET", Path: "/get", Summary: "a DAG as a tar archive with one top-level entry",
		Query: []paramDoc{argParam, {Name: "name", Type: "string", Desc: "name of the top-level entry (default the CID)"}},
		Resp:  bodyDoc{Media: []string{mediaTar}}},
	{Method: "GET", Path: "/car", Summary: "a local DAG as a CARv1 (POST /fetch first), as kubo's dag export",
		Query: []paramDoc{argParam}, Resp: bodyDoc{Media: []string{mediaCAR}}},
	{Method: "POST", Path: "/car", Summary: "import a CAR (v1 or v2; bounded by jobs.max_input_bytes, every block checked against its CID), as kubo's dag import",
		Query: []paramDoc{{Name: "pin", Type: "boolean", Desc: "pin the roots (default true)"}},
		Body:  &bodyDoc{Media: []string{mediaCAR}, Desc: "a CAR whose blocks hold the whole DAG of each root"},
		Resp:  jsonResp[CARImportResponse](`{"roots":["` + exCID + `"]}`)},
	{Method: "GET", Path: "/ls", Summary: "the entries of a directory",
		Query: []paramDoc{argParam}, Resp: jsonResp[[]LsEntry](`[{"name":"hello.txt","cid":"` + exCID + `","size":12,"type":"file"}]`)},
	{Method: "GET", Path: "/stat", Summary: "size, type and how much of a DAG is local",
		Query: []paramDoc{argParam}, Resp: jsonResp[StatResponse](`{"cid":"` + exCID + `","type":"file","size":12,"cumulative_size":12,"blocks":1,"local_bytes":12,"local":true}`)},
	{Method: "POST", Path: "/pin/add", Summary: "pin a DAG (fetching what is missing, bounded)",
		Query: []paramDoc{argParam, {Name: "recursive", Type: "boolean", Desc: "default true"}},
		Resp:  jsonResp[PinEntry](`{"cid":"` + exCID + `","type":"recursive"}`)},
	{Method: "POST", Path: "/pin/rm", Summary: "unpin",
		Query: []paramDoc{argParam}, Resp: jsonResp[PinEntry](`{"cid":"` + exCID + `","type":""}`)},
	{Method: "GET", Path: "/pin/ls", Summary: "the pins",
		Resp: jsonResp[[]PinEntry](`[{"cid":"` + exCID + `","type":"recursive"}]`)},
	{Method: "POST", Path: "/gc", Summary: "remove unpinned blocks",
		Resp: jsonResp[GCResponse](`{"removed":3}`)},
	{Method: "POST", Path: "/dir/make", Summary: "a UnixFS directory linking to CIDs, without fetching them (kubo's CID for the same entries)",
		Body: &bodyDoc{Media: []string{mediaJSON}, Type: typeOf[[]DirLink](), Desc: "the entries", Example: `[{"name":"a.txt","cid":"` + exCID + `"}]`},
		Resp: jsonResp[DirResponse](`{"cid":"` + exCID + `"}`)},
	{Method: "POST", Path: "/dir/add-link", Summary: "a directory with one entry added (like kubo's object patch add-link)",
		Query: []paramDoc{{Name: "arg", Type: "string", Desc: "the directory's CID", Required: true}, {Name: "name", Type: "string", Desc: "the entry's name", Required: true}, {Name: "cid", Type: "string", Desc: "the entry's CID", Required: true}, {Name: "replace", Type: "boolean", Desc: "replace an entry of that name (default false: 409)"}},
		Resp:  jsonResp[DirResponse](`{"cid":"` + exCID + `"}`)},
	{Method: "POST", Path: "/dir/rm-link", Summary: "a directory with one entry removed",
		Query: []paramDoc{{Name: "arg", Type: "string", Desc: "the directory's CID", Required: true}, {Name: "name", Type: "string", Desc: "the entry's name", Required: true}},
		Resp:  jsonResp[DirResponse](`{"cid":"` + exCID + `"}`)},

	{Method: "POST", Path: "/jobs", Summary: "submit a job spec (YAML or JSON body, CIDs only), or ?cid= a spec block in the network; the values of its secrets in the Shoal-Secrets header (base64url of a JSON object NAME → value, kept in memory only)",
		Query: []paramDoc{{Name: "cid", Type: "string", Desc: "the CID of a spec block to run instead of a body"},
			{Name: "reuse", Type: "string", Desc: "never: run afresh, reusing no receipt the network holds (shoal run --no-reuse); a completed job of this node runs again"}},
		Body: &bodyDoc{Media: []string{mediaYAML, mediaJSON}, Type: typeOf[specDoc](), Desc: "a job spec, docs/jobspec.md", Example: `{"name":"hello","engine":{"wasm":{"module":"` + exCID + `","args":["Ada"]}},"timeout":"1m"}`},
		Resp: jsonResp[SubmitResponse](`{"id":"` + exJob + `","existing":false,"state":"pending"}`)},
	{Method: "GET", Path: "/jobs", Summary: "the jobs this node submitted",
		Resp: jsonResp[[]JobSummary](`[{"id":"` + exJob + `","name":"hello","type":"batch","engine":"wasm","count":1,"state":"completed","created":"` + exTime + `","updated":"` + exTime + `","attempts":1}]`)},
	{Method: "GET", Path: "/jobs/{id}", Summary: "a job: record, bids, placement, receipts, events and spec",
		Resp: jsonResp[JobResponse](strings.TrimSuffix(exJobRecord, "}") + `,"spec":"name: hello\n"}`)},
	{Method: "GET", Path: "/jobs/{id}/events", Summary: "a job's events as NDJSON: those so far, new ones as they happen, the final record when it ends",
		Resp: ndjsonResp[JobEvent]("a line is an event, or the final record", `{"event":`+exEvent+`}`)},
	{Method: "GET", Path: "/jobs/{id}/logs", Summary: "a job's stdout/stderr as NDJSON lines: live while it runs (bounded, with markers for dropped bytes), the stored streams of its receipts once it ended",
		Query: []paramDoc{{Name: "follow", Type: "boolean", Desc: "keep streaming new lines until the job ends; the last line is then its end"},
			{Name: "stream", Type: "string", Desc: "stdout (default), stderr or all"}},
		Resp: ndjsonResp[JobLog]("a line of output, or the job's end (last)", `{"line":{"seq":1,"time":"`+exTime+`","stream":"stdout","line":"hello from shoal","executor":"`+exPeer+`"}}`)},
	{Method: "POST", Path: "/jobs/{id}/cancel", Summary: "cancel a job",
		Resp: jsonResp[SubmitResponse](`{"id":"` + exJob + `","existing":false,"state":"cancelled"}`)},

	{Method: "POST", Path: "/workflows", Summary: "run a workflow: {\"block\": a canonical workflow block}, a workflow file, or ?cid=",
		Query: []paramDoc{{Name: "cid", Type: "string", Desc: "the CID of a workflow block the network holds"}},
		Body:  &bodyDoc{Media: []string{mediaJSON, mediaYAML}, Type: typeOf[WorkflowSubmit](), Desc: "a workflow block, or a workflow file (docs/jobspec.md)", Example: `{"block":"omRuYW1l"}`},
		Resp:  jsonResp[WorkflowSubmitResponse](`{"id":"` + exJob + `","existing":false,"state":"running"}`)},
	{Method: "GET", Path: "/workflows", Summary: "the workflows this node ran",
		Resp: jsonResp[[]WorkflowRun](`[` + exWorkflow + `]`)},
	{Method: "GET", Path: "/workflows/{id}", Summary: "a workflow run: each step's state, job, executor, outputs and timings, and a partitioned step's tasks",
		Query: []paramDoc{{Name: "after", Type: "integer", Desc: "wait until the record's version is above this (or the run ended)"},
			{Name: "timeout", Type: "string", Desc: "how long after= waits (default and at most 1m)"}},
		Resp: jsonResp[WorkflowRun](exWorkflow)},
	{Method: "POST", Path: "/workflows/{id}/cancel", Summary: "cancel a workflow: its running steps' jobs are cancelled",
		Resp: jsonResp[WorkflowRun](exWorkflow)},

	{Method: "GET", Path: "/orgs", Summary: "org keys held, orgs trusted, this node's certificates, the deny-list",
		Resp: jsonResp[node.OrgInfo](`{"keys":[{"name":"acme","public_key":"ed25519:4f1c"}],"trusted":[],"certs":[` + exCert + `],"deny":[]}`)},
	{Method: "POST", Path: "/orgs/join", Summary: "install a membership certificate (the PEM file as body)",
		Body: &bodyDoc{Media: []string{mediaPEM}, Desc: "a certificate file from `shoal org issue`"},
		Resp: jsonResp[node.CertInfo](exCert)},
	{Method: "POST", Path: "/orgs/deny", Summary: "add a peer or certificate ID to the deny-list (or take it off)",
		Query: []paramDoc{{Name: "id", Type: "string", Desc: "a peer ID or certificate ID", Required: true}, {Name: "remove", Type: "string", Desc: "set: take it off the list"}},
		Resp:  jsonResp[DenyResponse](`{"entry":"` + exPeer + `"}`)},
	{Method: "POST", Path: "/orgs/{name}/init", Summary: "create an org key",
		Resp: jsonResp[node.OrgKeyInfo](`{"name":"acme","public_key":"ed25519:4f1c"}`)},
	{Method: "POST", Path: "/orgs/{name}/issue", Summary: "sign a membership certificate for a peer",
		Query: []paramDoc{{Name: "peer", Type: "string", Desc: "the member's peer ID", Required: true}, {Name: "role", Type: "string", Desc: "requester, executor or both (default)"}, {Name: "expires", Type: "string", Desc: "validity, a duration (default 720h)"}},
		Resp:  jsonResp[node.CertInfo](strings.TrimSuffix(exCert, "}") + `,"pem":"-----BEGIN SHOAL ORG CERTIFICATE-----\n"}`)},
	{Method: "POST", Path: "/orgs/{name}/leave", Summary: "drop this node's certificate of the org",
		Resp: jsonResp[struct{}](`{}`)},
	{Method: "POST", Path: "/orgs/{name}/trust", Summary: "trust an org's key",
		Query: []paramDoc{{Name: "key", Type: "string", Desc: "the org's public key", Required: true}},
		Resp:  jsonResp[struct{}](`{}`)},
	{Method: "POST", Path: "/orgs/{name}/untrust", Summary: "stop trusting an org",
		Resp: jsonResp[struct{}](`{}`)},
	{Method: "GET", Path: "/policy", Summary: "the admission policy, rule by rule",
		Resp: jsonResp[PolicyResponse](exPolicy)},
	{Method: "PUT", Path: "/policy", Summary: "replace the admission policy",
		Body: &bodyDoc{Media: []string{mediaJSON}, Type: typeOf[policy.Policy](), Desc: "a policy document, docs/security.md", Example: `{"engines":["wasm"],"max_resources":{"memory":"1GiB"}}`},
		Resp: jsonResp[PolicyResponse](exPolicy)},
	{Method: "GET", Path: "/policy/peers", Summary: "per-peer abuse counters and scores",
		Resp: jsonResp[[]node.PeerAbuse](`[{"peer":"` + exPeer + `","score":0,"excess":0,"announces_dropped":0,"streams_refused":0}]`)},
	{Method: "GET", Path: "/events", Summary: "this node's events as server-sent events (its jobs' events, peers connecting and leaving), from now on",
		Resp: bodyDoc{Media: []string{mediaSSE}, Type: typeOf[NodeEvent](), Desc: "each event's data is a JSON value",
			Example: `{"kind":"job","job":{"id":"` + exJob + `","state":"completed","event":` + exEvent + `}}`}},
	{Method: "GET", Path: "/providers", Summary: "the peers the DHT lists as holding a CID, and whether this node holds it",
		Query: []paramDoc{argParam, {Name: "max", Type: "integer", Desc: "at most this many (default 20, at most 100)"}, {Name: "timeout", Type: "string", Desc: "a duration (default 5s)"}},
		Resp:  jsonResp[ProvidersResponse](`{"cid":"` + exCID + `","local":true,"providers":["` + exPeer + `"]}`)},
	{Method: "GET", Path: "/openapi.json", Summary: "this document",
		Resp: bodyDoc{Media: []string{mediaJSON}, Desc: "an OpenAPI 3.1 document"}},
}

// specDoc is the shape of a job spec document for the schema; the handler
// reads it with jobspec.Parse (strict, with line numbers).
type specDoc struct {
	Version      int              `json:"version,omitempty"`
	Name         string           `json:"name,omitempty"`
	Type         string           `json:"type,omitempty"`
	Count        int              `json:"count,omitempty"`
	Engine       map[string]any   `json:"engine"`
	Inputs       []map[string]any `json:"inputs,omitempty"`
	Outputs      []string         `json:"outputs,omitempty"`
	Resources    map[string]any   `json:"resources,omitempty"`
	Timeout      string           `json:"timeout,omitempty"`
	QueueTimeout string           `json:"queue_timeout,omitempty"`
	Constraints  map[string]any   `json:"constraints,omitempty"`
	Reuse        string           `json:"reuse,omitempty"`
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, OpenAPI())
	return nil
}

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[string]reflect.Type{}}
	paths := map[string]map[string]any{}
	for _, rd := range routeDocs {
		full := Prefix + rd.Path
		if paths[full] == nil {
			paths[full] = map[string]any{}
		}
		op := map[string]any{
			"summary":     rd.Summary,
			"operationId": opID(rd),
			"responses": map[string]any{
				"200":     g.response(rd.Resp),
				"default": map[string]any{"$ref": "#/components/responses/Error"},
			},
		}
		var params []any
		for _, name := range pathParams(rd.Path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rd.Query {
			sch := map[string]any{"type": q.Type}
			if q.Repeat {
				sch = map[string]any{"type": "array", "items": map[string]any{"type": q.Type}}
			}
			p := map[string]any{"name": q.Name, "in": "query", "schema": sch, "description": q.Desc}
			if q.Required {
				p["required"] = true
			}
			if q.Repeat {
				p["explode"] = true
			}
			params = append(params, p)
		}
		if params != nil {
			op["parameters"] = params
		}
		if rd.Body != nil {
			op["requestBody"] = map[string]any{"required": rd.Method != http.MethodPost || rd.Path != "/jobs", "description": rd.Body.Desc, "content": g.content(*rd.Body)}
		}
		paths[full][strings.ToLower(rd.Method)] = op
	}
	g.schema(typeOf[Error]())
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Shoal daemon API",
			"version": node.Version,
			"description": "The HTTP API of a Shoal daemon (node/api). Every request, this document's included, carries the repo's API token " +
				"(Authorization: Bearer, the file $SHOAL_PATH/api.token), names the API's own address as Host and comes from no other web origin; " +
				"a mutating call (POST, PUT) has a media type no web page can send without a preflight (application/json, application/yaml, " +
				"application/x-pem-file; multipart only for /add). Errors are JSON objects with a stable code and a message.",
		},
		"servers":  []any{map[string]any{"url": "http://127.0.0.1:5280", "description": "the default api.addr"}},
		"security": []any{map[string]any{"token": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"token": map[string]any{"type": "http", "scheme": "bearer", "description": "the token in $SHOAL_PATH/api.token"}},
			"schemas":         g.defs,
			"responses": map[string]any{"Error": map[string]any{
				"description": "an API error: 400 bad_request, 401 unauthorized, 403 forbidden, 404 not_found, 405 method_not_allowed, 409 conflict, 413 too_large, 415 unsupported_media_type, 422 unsafe_content, too_deep or bad_car, 504 timeout, 500 internal",
				"content":     map[string]any{mediaJSON: map[string]any{"schema": g.ref(typeOf[Error]()), "example": json.RawMessage(`{"code":"not_found","message":"no job bafyrei... on this node"}`)}},
			}},
		},
	}
}

func opID(rd routeDoc) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rd.Method))
	for _, part := range strings.FieldsFunc(rd.Path, func(r rune) bool { return r == '/' || r == '{' || r == '}' || r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

type schemaGen struct {
	defs  map[string]any
	names map[string]reflect.Type
}

func (g *schemaGen) response(b bodyDoc) map[string]any {
	desc := b.Desc
	if desc == "" {
		desc = "OK"
	}
	return map[string]any{"description": desc, "content": g.content(b)}
}

func (g *schemaGen) content(b bodyDoc) map[string]any {
	out := map[string]any{}
	for _, m := range b.Media {
		mt := map[string]any{}
		switch {
		case b.Type != nil:
			mt["schema"] = g.schema(b.Type)
		case m == mediaJSON: // the document itself
			mt["schema"] = map[string]any{"type": "object"}
		default:
			mt["schema"] = map[string]any{"type": "string", "format": "binary"}
		}
		if b.Example != "" && (m == mediaJSON || m == mediaNDJSON || m == mediaSSE) {
			mt["example"] = json.RawMessage(b.Example)
		}
		if m == mediaNDJSON {
			mt["x-line-schema"] = "each line is one JSON value of the schema"
		}
		if m == mediaSSE {
			mt["x-line-schema"] = "each event's data line is one JSON value of the schema"
		}
		out[m] = mt
	}
	return out
}

var (
	timeType      = typeOf[time.Time]()
	durationType  = typeOf[time.Duration]()
	marshalerType = typeOf[json.Marshaler]()
	textType      = typeOf[encoding.TextMarshaler]()
)

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + t.Name()}
}

// schema is the JSON Schema of what encoding/json writes for t.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	case t.Kind() != reflect.Struct && (t.Implements(marshalerType) || t.Implements(textType)):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		if prev, ok := g.names[t.Name()]; ok && prev != t {
			panic(fmt.Sprintf("openapi: two types named %s (%s and %s)", t.Name(), prev, t))
		}
		if _, ok := g.names[t.Name()]; !ok {
			g.names[t.Name()] = t
			g.defs[t.Name()] = nil // placeholder against recursion
			g.defs[t.Name()] = g.object(t)
		}
		return g.ref(t)
	}
	panic("openapi: no schema for " + t.String())
}

// object is the schema of struct t: its JSON fields, embedded structs'
// included, "required" those without omitempty or omitzero.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

// RoutesMarkdown is the table of routes of the README's API section.
func RoutesMarkdown() string {
	var b strings.Builder
	b.WriteString("| method | path | what |\n|---|---|---|\n")
	for _, rd := range routeDocs {
		fmt.Fprintf(&b, "| %s | `%s%s` | %s |\n", rd.Method, Prefix, rd.Path, strings.ReplaceAll(rd.Summary, "|", "\\|"))
	}
	return b.String()
}
