package jobspec

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestRemoteInputsRoundTrip(t *testing.T) {
	doc, err := os.ReadFile("testdata/remote.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, string(doc), "remote.yaml")
	if got := len(s.RemoteInputs()); got != 3 {
		t.Fatalf("RemoteInputs = %d, want 3", got)
	}
	if got := s.InputCIDs(); len(got) != 1 || got[0].String() != cidInput {
		t.Fatalf("InputCIDs = %v, want only the CID input (remote inputs have no holder)", got)
	}
	// Publish targets are sorted by name: ipfs+http < s3.
	if len(s.Publish) != 2 || s.Publish[0].IPFS == nil || !s.Publish[1].Required || s.Publish[1].S3.Bucket != "results" {
		t.Fatalf("Publish = %+v", s.Publish)
	}
	block, id, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(block)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Fatalf("Decode(Encode(s)) != s:\n%+v\n%+v", s, back)
	}
	y, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(y), "again.yaml")
	if id2, _ := JobID(again); id2 != id {
		t.Fatalf("YAML round trip changed the job ID:\n%s", y)
	}
	// The order publish targets are written in does not change the job.
	swapped := s.Clone()
	swapped.Publish[0], swapped.Publish[1] = swapped.Publish[1], swapped.Publish[0]
	if id3, _ := JobID(swapped); id3 != id {
		t.Fatal("publish order changed the job ID")
	}
	// required is part of the job.
	notReq := s.Clone()
	notReq.Publish[1].Required = false
	if id4, _ := JobID(notReq); id4 == id {
		t.Fatal("required did not change the job ID")
	}
}

func TestRemoteInputErrors(t *testing.T) {
	const eng = "engine: {wasm: {module: " + cidModule + "}}\n"
	cases := []struct {
		name, doc, want string
	}{
		{"unsupported scheme", "inputs: [{url: 'ftp://h/x', path: /in}]", `scheme "ftp" is not supported`},
		{"file scheme", "inputs: [{url: 'file:///etc/passwd', path: /in}]", `scheme "file" is not supported`},
		{"no host", "inputs: [{url: 'http:///x', path: /in}]", "has no host"},
		{"credentials", "inputs: [{url: 'https://u:p@h/x', path: /in}]", "holds credentials"},
		{"url and cid", "inputs: [{url: 'https://h/x', cid: " + cidInput + ", path: /in}]", "give one of cid, src, url and s3"},
		{"url and s3", "inputs: [{url: 'https://h/x', s3: {bucket: abc, key: k}, path: /in}]", "give one of cid, src, url and s3"},
		{"no path", "inputs: [{url: 'https://h/x'}]", "inputs[0].path: required"},
		{"bad bucket", "inputs: [{s3: {bucket: Bad_Bucket, key: k}, path: /in}]", `bucket "Bad_Bucket"`},
		{"key and prefix", "inputs: [{s3: {bucket: abc, key: k, prefix: p/}, path: /in}]", "not both"},
		{"s3 unknown field", "inputs: [{s3: {bucket: abc, secret_key: x}, path: /in}]", "unknown field"},
		{"bad endpoint", "inputs: [{s3: {bucket: abc, endpoint: 'gopher://x'}, path: /in}]", `scheme "gopher"`},
		{"bad import", "inputs: [{url: 'https://h/x', path: /in, import: nobody}]", `"nobody": use executor`},
		{"import needs the CLI", "inputs: [{url: 'https://h/x', path: /in, import: requester}]", "done by `shoal job run`"},
		{"import of a cid", "inputs: [{cid: " + cidInput + ", path: /in, import: requester}]", "url and s3 inputs only"},
		{"publish empty", "publish: [{required: true}]", "publish[0]: required"},
		{"publish both", "publish: [{s3: {bucket: abc}, ipfs: {api: 'http://h:5001'}}]", "only one of s3 and ipfs"},
		{"publish bad api", "publish: [{ipfs: {api: 'tcp://h:5001'}}]", `scheme "tcp"`},
		{"publish twice", "publish: [{ipfs: {api: 'http://h:5001'}}, {ipfs: {api: 'http://h:5001'}}]", "is also publish[0]"},
		{"publish required not bool", "publish: [{ipfs: {api: 'http://h:5001'}, required: yes}]", "expected true or false"},
		{"too many remote", "inputs: [" + manyURLs(MaxRemoteInputs+1) + "]", "url or s3 inputs, limit"},
		{"too many publish", "publish: [" + strings.Repeat("{ipfs: {api: 'http://h:5001'}},", MaxPublish+1) + "]", "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(eng+tc.doc+"\n"), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a *FieldError: %T", err)
			}
		})
	}
}

func manyURLs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("{url: 'https://h/" + string(rune('a'+i)) + "', path: /in/" + string(rune('a'+i)) + "},")
	}
	return b.String()
}

func TestImportRequester(t *testing.T) {
	doc := "engine: {wasm: {module: " + cidModule + "}}\ninputs: [{url: 'https://h/x', path: /in, import: requester}]\n"
	var got []RemoteRef
	s, err := ParseWith([]byte(doc), "x.yaml", ParseOptions{Import: func(r RemoteRef) (cid.Cid, error) {
		got = append(got, r)
		return cid.Decode(cidInput)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Input.URL != "https://h/x" || got[0].Field != "inputs[0]" || got[0].Line != 2 {
		t.Fatalf("Import called with %+v", got)
	}
	if in := s.Inputs[0]; in.Remote() || in.CID.String() != cidInput || in.Path != "/in" {
		t.Fatalf("input = %+v, want the CID the requester imported", in)
	}
	_, err = ParseWith([]byte(doc), "x.yaml", ParseOptions{Import: func(RemoteRef) (cid.Cid, error) {
		return cid.Undef, errors.New("server said 404")
	}})
	if err == nil || !strings.Contains(err.Error(), "https://h/x: server said 404") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseCLITargets(t *testing.T) {
	o, err := ParseS3URL("s3://bucket/dir/")
	if err != nil || o.Bucket != "bucket" || o.Prefix != "dir/" || o.Key != "" {
		t.Fatalf("prefix: %+v %v", o, err)
	}
	o, err = ParseS3URL("s3://bucket/dir/file.csv")
	if err != nil || o.Key != "dir/file.csv" || o.Prefix != "" {
		t.Fatalf("key: %+v %v", o, err)
	}
	if o, err = ParseS3URL("s3://bucket"); err != nil || o.Prefix != "" || o.Key != "" {
		t.Fatalf("bucket: %+v %v", o, err)
	}
	p, err := ParsePublishTarget("ipfs+http://127.0.0.1:5001")
	if err != nil || p.IPFS == nil || p.IPFS.API != "http://127.0.0.1:5001" {
		t.Fatalf("ipfs: %+v %v", p, err)
	}
	p, err = ParsePublishTarget("s3://out/jobs/")
	if err != nil || p.S3 == nil || p.S3.Bucket != "out" || p.S3.Prefix != "jobs/" {
		t.Fatalf("s3: %+v %v", p, err)
	}
	if _, err := ParsePublishTarget("ftp://x"); err == nil {
		t.Fatal("ftp accepted")
	}
}
