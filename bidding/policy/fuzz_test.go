package policy

import (
	"encoding/json"
	"testing"
)

// FuzzParse: policy documents come from operators (the config file,
// `shoal policy set`). Parse never panics; what it accepts re-encodes to a
// document it accepts again, and Check never panics on it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"requesters":{"orgs":["acme"],"peers":["12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"]},"engines":["wasm"]}`))
	f.Add([]byte(`{"max_resources":{"cpu":"500m","memory":"1GiB","disk":1024},"max_input_size":"1.5 GiB"}`))
	f.Add([]byte(`{"docker":{"images":["alpine:*"],"image_cids":["bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka"]}}`))
	f.Add([]byte(`{"per_requester":{"max_concurrent":2,"jobs_per_minute":10},"local_inputs_only":true,"abuse":{"announces_per_second":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal an accepted policy: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-encoded policy %s is refused: %v", out, err)
		}
		_ = p.Check(Request{Requester: testPeer(t, 1), Spec: wasmJob(), Running: 3})
		_ = p.Describe([]string{"wasm"})
	})
}
