package policy

import (
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

const (
	testModule = "bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya"
	testInput  = "bafkreiag5ijdjadfh2jpuwv74ssujlliubradhlicoc3g27llyuxcoxjwu"
)

func testPeer(t testing.TB, seed int64) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id
}

func wasmJob(mutate ...func(*jobspec.Spec)) *jobspec.Spec {
	s := &jobspec.Spec{Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: cid.MustParse(testModule)}},
		Inputs:    []jobspec.Input{{CID: cid.MustParse(testInput), Path: "/in"}},
		Resources: jobspec.Resources{MilliCPU: 1000, Memory: 256 << 20, Disk: 1 << 30}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func dockerJob(image string, imageCID cid.Cid) *jobspec.Spec {
	return wasmJob(func(s *jobspec.Spec) {
		s.Engine = jobspec.Engine{Docker: &jobspec.Docker{Image: image, ImageCID: imageCID}}
	})
}

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func TestZeroPolicyAdmitsEverything(t *testing.T) {
	var p Policy
	for _, s := range []*jobspec.Spec{wasmJob(), dockerJob("anything:1", cid.Undef)} {
		if r := p.Check(Request{Requester: testPeer(t, 1), Spec: s, Running: 1000}); r != nil {
			t.Fatalf("zero policy refused: %v", r)
		}
	}
	if b, _ := json.Marshal(&p); string(b) != "{}" {
		t.Fatalf("zero policy encodes as %s, want {}", b)
	}
}

func TestCheck(t *testing.T) {
	alice, bob := testPeer(t, 1), testPeer(t, 2)
	held := func(c cid.Cid) (int64, int64) { return 10 << 20, 10 << 20 }
	missing := func(c cid.Cid) (int64, int64) { return 0, 0 }
	imgCID := cid.MustParse("bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka")
	for _, tc := range []struct {
		name   string
		policy string
		req    Request
		code   bidding.Code // "" = admitted
		reason string
	}{
		{"listed peer", `{"requesters":{"peers":["` + alice.String() + `"]}}`, Request{Requester: alice}, "", ""},
		{"unlisted peer", `{"requesters":{"peers":["` + alice.String() + `"]}}`, Request{Requester: bob}, bidding.CodeRequesterDenied, "not in allowed peers"},
		{"self passes", `{"requesters":{"peers":["` + alice.String() + `"]}}`, Request{Requester: bob, Self: true}, "", ""},
		{"member", `{"requesters":{"orgs":["acme"]}}`, Request{Requester: bob, Orgs: []string{"acme"}}, "", ""},
		{"no cert", `{"requesters":{"orgs":["acme"]}}`, Request{Requester: bob}, bidding.CodeRequesterDenied, "requester not in allowed orgs [acme]: no certificate presented"},
		{"other org", `{"requesters":{"orgs":["acme"]}}`, Request{Requester: bob, Orgs: []string{"globex"}}, bidding.CodeRequesterDenied, "member of [globex] only"},
		{"expired cert", `{"requesters":{"orgs":["acme"]}}`, Request{Requester: bob, OrgProblems: []string{"certificate for globex is malformed", "certificate for acme expired at X"}},
			bidding.CodeRequesterDenied, "requester not in allowed orgs [acme]: certificate for acme expired at X"},
		{"peer or org", `{"requesters":{"peers":["` + alice.String() + `"],"orgs":["acme"]}}`, Request{Requester: bob}, bidding.CodeRequesterDenied, "not in allowed peers or orgs [acme]"},
		{"engine", `{"engines":["docker"]}`, Request{}, bidding.CodeEngineDenied, "engine wasm not allowed by this node's policy (allowed: docker)"},
		{"image by name", `{"docker":{"images":["alpine:*","ghcr.io/acme/*"]}}`, Request{Spec: dockerJob("ghcr.io/acme/tools/x:1", cid.Undef)}, "", ""},
		{"image latest", `{"docker":{"images":["alpine:latest"]}}`, Request{Spec: dockerJob("alpine", cid.Undef)}, "", ""},
		{"image refused", `{"docker":{"images":["alpine:*"]}}`, Request{Spec: dockerJob("evil/miner:1", cid.Undef)}, bidding.CodeImageDenied, "image evil/miner:1 not in this node's image allow-list [alpine:*]"},
		{"image CID", `{"docker":{"image_cids":["` + imgCID.String() + `"]}}`, Request{Spec: dockerJob("", imgCID)}, "", ""},
		{"image CID refused", `{"docker":{"images":["*"]}}`, Request{Spec: dockerJob("", imgCID)}, bidding.CodeImageDenied, "image CID"},
		{"ceiling", `{"max_resources":{"cpu":"500m","memory":"128MiB"}}`, Request{}, bidding.CodeResourcesExceeded, "job asks cpu 1 (ceiling 0.5), memory 256MiB (ceiling 128MiB)"},
		{"under ceiling", `{"max_resources":{"cpu":2,"memory":"1GiB","disk":1073741824}}`, Request{}, "", ""},
		{"input size", `{"max_input_size":"1MiB"}`, Request{Local: held}, bidding.CodeInputTooLarge, "content of 20MiB exceeds this node's policy limit of 1MiB"},
		{"inputs not held", `{"local_inputs_only":true}`, Request{Local: missing}, bidding.CodeInputsNotHeld, "only runs jobs whose inputs it holds"},
		{"inputs held", `{"local_inputs_only":true}`, Request{Local: held}, "", ""},
		{"concurrency", `{"per_requester":{"max_concurrent":2}}`, Request{Running: 2}, bidding.CodeConcurrencyLimit, "already has 2 job(s)"},
		{"under concurrency", `{"per_requester":{"max_concurrent":2}}`, Request{Running: 1}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.policy)
			if tc.req.Spec == nil {
				tc.req.Spec = wasmJob()
			}
			if tc.req.Requester == "" {
				tc.req.Requester = alice
			}
			r := p.Check(tc.req)
			switch {
			case tc.code == "" && r != nil:
				t.Fatalf("refused: %v", r)
			case tc.code != "" && r == nil:
				t.Fatalf("admitted, want %s", tc.code)
			case r != nil && (r.Code != tc.code || !strings.Contains(r.Reason, tc.reason)):
				t.Fatalf("refusal %s %q, want %s %q", r.Code, r.Reason, tc.code, tc.reason)
			case r != nil && len(r.Reason) > bidding.MaxReasonLen:
				t.Fatalf("reason of %d bytes", len(r.Reason))
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	p := mustParse(t, `{"per_requester":{"jobs_per_minute":2}}`)
	l := NewLimiter(p)
	a, b := testPeer(t, 1), testPeer(t, 2)
	now := time.Unix(1000, 0)
	for i := range 5 {
		if r := l.Check(a, now, false); r != nil {
			t.Fatalf("peek %d refused", i) // bids do not consume
		}
	}
	for i := range 2 {
		if r := l.Check(a, now, true); r != nil {
			t.Fatalf("job %d refused: %v", i+1, r)
		}
	}
	r := l.Check(a, now, false)
	if r == nil || r.Code != bidding.CodeRateLimited {
		t.Fatalf("third job: %v, want rate_limited", r)
	}
	if l.Check(b, now, true) != nil {
		t.Fatal("another requester was limited")
	}
	if l.Check(a, now.Add(30*time.Second), true) != nil {
		t.Fatal("a token did not come back after 30 s (2 per minute)")
	}
	if NewLimiter(&Policy{}).Check(a, now, true) != nil {
		t.Fatal("no limit configured, yet refused")
	}
}

func TestBucketsAreBounded(t *testing.T) {
	b := NewBuckets(1, 1, 16)
	now := time.Unix(1000, 0)
	for i := range 100 {
		b.Allow(testPeer(t, int64(i)), now)
	}
	if len(b.b) > 16 {
		t.Fatalf("%d buckets, bound 16", len(b.b))
	}
}

func TestParseRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":  `{"enginez":["wasm"]}`,
		"bad peer":       `{"requesters":{"peers":["nope"]}}`,
		"bad org":        `{"requesters":{"orgs":["-x"]}}`,
		"bad size":       `{"max_input_size":"12 parsecs"}`,
		"bad cpu":        `{"max_resources":{"cpu":"lots"}}`,
		"negative limit": `{"per_requester":{"max_concurrent":-1}}`,
		"bad cid":        `{"docker":{"image_cids":["bafyfoo"]}}`,
		"trailing":       `{} {}`,
		"not an object":  `[]`,
		"bad abuse":      `{"abuse":{"announce_burst":-5}}`,
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse = %v, want ErrInvalid", name, err)
		}
	}
}

func TestRoundTripAndDescribe(t *testing.T) {
	doc := `{"requesters":{"orgs":["acme"]},"engines":["wasm"],"max_resources":{"cpu":"1.5","memory":"1GiB"},
		"docker":{"images":["alpine:*"]},"local_inputs_only":true,"max_input_size":"10GiB",
		"per_requester":{"max_concurrent":4,"jobs_per_minute":60},"abuse":{"announces_per_second":-1}}`
	p := mustParse(t, doc)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(b))
	b2, _ := json.Marshal(again)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the policy:\n%s\n%s", b, b2)
	}
	var all []string
	for _, l := range p.Describe([]string{"wasm"}) {
		all = append(all, l.Key+": "+l.Value)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"requesters: members of orgs [acme]", "per-job ceiling: cpu 1.5, memory 1GiB",
		"max input size: 10GiB", "at most 4 job(s) at once", "unlimited announcements"} {
		if !strings.Contains(text, want) {
			t.Errorf("Describe lacks %q:\n%s", want, text)
		}
	}
}
