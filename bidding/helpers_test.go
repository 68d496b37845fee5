package bidding

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Fixed test material: keys from a seeded source so IDs and bytes are stable.

type identity struct {
	key crypto.PrivKey
	id  peer.ID
}

func newIdentity(t testing.TB, seed int64) identity {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return identity{key, id}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testModule = "bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya"
	testInput  = "bafkreiag5ijdjadfh2jpuwv74ssujlliubradhlicoc3g27llyuxcoxjwu"
	testInput2 = "bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka"
)

func testSpec(t testing.TB, mutate ...func(*jobspec.Spec)) (*jobspec.Spec, []byte, cid.Cid) {
	t.Helper()
	s := &jobspec.Spec{
		Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: cid.MustParse(testModule)}},
		Inputs: []jobspec.Input{{CID: cid.MustParse(testInput), Path: "/in"}},
	}
	for _, m := range mutate {
		m(s)
	}
	block, id, err := jobspec.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	s, err = jobspec.Decode(block)
	if err != nil {
		t.Fatal(err)
	}
	return s, block, id
}

func addr(t testing.TB, s string) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sampleMessages returns one valid, unsigned message of every kind, signed
// by the identities given (requester, bidder/executor).
func sampleMessages(t testing.TB, req, exe identity) []Message {
	t.Helper()
	spec, block, job := testSpec(t)
	ann, err := NewAnnounce(spec, req.id, []ma.Multiaddr{addr(t, "/ip4/10.0.0.1/tcp/4001")}, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	award := NewAward(job, block, req.id, exe.id, []peer.AddrInfo{{ID: req.id, Addrs: []ma.Multiaddr{addr(t, "/ip4/10.0.0.1/udp/4001/quic-v1")}}}, 1, t0)
	awardByCID := NewAward(job, nil, req.id, exe.id, nil, 2, t0)
	out := cid.MustParse(testInput2)
	return []Message{
		ann,
		NewBid(job, exe.id, Offer{LocalBytes: 10, TotalBytes: 20, FreeSlots: 2, EstStart: time.Second, ReservationTTL: 5 * time.Second}, t0),
		NewDecline(job, AwardID{}, exe.id, refuse(CodeNoCapacity, "queue full"), t0),
		award,
		awardByCID,
		NewAccept(award, t0),
		&Status{AwardID: award.AwardID, JobCID: job, Executor: exe.id, Phase: PhaseRunning, Seq: 3, Time: t0},
		&Status{AwardID: award.AwardID, JobCID: job, Executor: exe.id, Phase: PhaseFetching, Seq: 2, Done: 1 << 20, Total: 3 << 20, Time: t0},
		&Receipt{JobCID: job, AwardID: award.AwardID, Requester: req.id, Executor: exe.id, OutputsRoot: out, Stdout: out, Stderr: out,
			ExitCode: 0, Timings: Timings{Fetch: time.Second, Run: 2 * time.Second, Publish: 10 * time.Millisecond, Total: 4 * time.Second},
			StartedAt: t0, FinishedAt: t0.Add(4 * time.Second)},
		// A receipt with remote inputs and publish outcomes.
		&Receipt{JobCID: job, AwardID: award.AwardID, Requester: req.id, Executor: exe.id, OutputsRoot: out, Stdout: out, Stderr: out,
			StartedAt: t0, FinishedAt: t0.Add(time.Second),
			Imports:   []ImportRecord{{Index: 0, CID: out, ETag: `"e1"`, LastModified: t0}, {Index: 2, CID: out, Reused: true}},
			Published: []PublishRecord{{Index: 0, OK: true}, {Index: 1, Error: "connection refused"}}},
		&Cancel{AwardID: award.AwardID, JobCID: job, Requester: req.id, Reason: "user asked", IssuedAt: t0},
		&Query{AwardID: award.AwardID, JobCID: job, Requester: req.id, IssuedAt: t0},
		&Log{AwardID: award.AwardID, JobCID: job, Executor: exe.id, Seq: 1, Stream: LogStdout, Data: []byte("line 0\n"), Time: t0},
		&Log{AwardID: award.AwardID, JobCID: job, Executor: exe.id, Seq: 2, Stream: LogStderr, Data: bytes.Repeat([]byte{'x'}, MaxLogData), Dropped: 4096, Time: t0},
	}
}

func keyFor(m Message, ids ...identity) crypto.PrivKey {
	for _, i := range ids {
		if i.id == m.Signer() {
			return i.key
		}
	}
	return nil
}
