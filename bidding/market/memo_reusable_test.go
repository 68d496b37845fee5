package market

import (
	"testing"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Which jobs publish and reuse receipts (docs/protocol.md §9).
func TestReusableResult(t *testing.T) {
	const mod = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
	base := "engine:\n  wasm:\n    module: " + mod + "\n"
	for _, tc := range []struct {
		name, extra string
		want        bool
	}{
		{"wasm default", "", true},
		{"reuse never", "reuse: never\n", false},
		{"not deterministic", "", false},
		{"count 2", "count: 2\n", false},
		{"url input", "inputs:\n  - url: https://example.org/data\n    path: /inputs/data\n", false},
		{"publishes", "publish:\n  - ipfs: {api: 'http://127.0.0.1:5001'}\n", false},
		{"secrets", "secrets: [TOKEN]\n", false},
		{"cid input", "inputs:\n  - cid: " + mod + "\n    path: /inputs/x\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := base
			if tc.name == "not deterministic" {
				doc += "    deterministic: false\n"
			}
			s, err := jobspec.Parse([]byte(doc+tc.extra), "spec.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if got := reusableResult(s); got != tc.want {
				t.Fatalf("reusableResult = %v, want %v", got, tc.want)
			}
		})
	}
}
