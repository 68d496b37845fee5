package bidding

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

func idleNode(t *testing.T) *StaticView {
	return &StaticView{
		Peer:       newIdentity(t, 10).id,
		EngineList: []string{"wasm"},
		LabelSet:   map[string]string{"zone": "eu-west"},
		Total:      jobspec.Resources{MilliCPU: 4000, Memory: 8 << 30, Disk: 100 << 30},
		Available:  jobspec.Resources{MilliCPU: 4000, Memory: 8 << 30, Disk: 100 << 30},
		Slots:      4,
		Held:       map[cid.Cid][2]int64{},
	}
}

// testURL is the url input withURL adds.
const testURL = "https://data.example.org/corpus.txt"

func withURL(s *jobspec.Spec) {
	s.Inputs = append(s.Inputs, jobspec.Input{URL: testURL, Path: "/url"})
}

func TestAdmit(t *testing.T) {
	module, input := cid.MustParse(testModule), cid.MustParse(testInput)
	imported := cid.MustParse(testInput2)
	other := newIdentity(t, 11).id
	tests := []struct {
		name      string
		spec      func(*jobspec.Spec)
		node      func(*StaticView)
		wantCode  Code
		wantOffer Offer
	}{
		{name: "idle node, nothing held", wantOffer: Offer{FreeSlots: 4}},
		{name: "holds input and module: locality counts the input only",
			node:      func(v *StaticView) { v.Held[input] = [2]int64{1000, 1000}; v.Held[module] = [2]int64{50, 50} },
			wantOffer: Offer{LocalBytes: 1000, TotalBytes: 1000, FreeSlots: 4}},
		{name: "holds only the module",
			node:      func(v *StaticView) { v.Held[module] = [2]int64{50, 50} },
			wantOffer: Offer{FreeSlots: 4}},
		{name: "holds part of input",
			node:      func(v *StaticView) { v.Held[input] = [2]int64{300, 1000} },
			wantOffer: Offer{LocalBytes: 300, TotalBytes: 1000, FreeSlots: 4}},
		{name: "busy node still bids, queued",
			node:      func(v *StaticView) { v.Slots = 0; v.Queued = 3; v.Wait = 40 * time.Second },
			wantOffer: Offer{QueueDepth: 3, EstStart: 40 * time.Second}},
		{name: "free slot but memory in use: queued",
			spec:      func(s *jobspec.Spec) { s.Resources.Memory = 4 << 30 },
			node:      func(v *StaticView) { v.Available.Memory = 1 << 30; v.Wait = time.Minute },
			wantOffer: Offer{EstStart: time.Minute}},
		{name: "queue full", node: func(v *StaticView) { v.Slots = 0; v.Queued = 8; v.MaxQueue = 8 }, wantCode: CodeNoCapacity},
		{name: "no engine", spec: func(s *jobspec.Spec) {
			s.Engine = jobspec.Engine{Docker: &jobspec.Docker{Image: "alpine"}}
		}, wantCode: CodeEngineUnavailable},
		{name: "label missing", spec: func(s *jobspec.Spec) { s.Constraints.Labels = map[string]string{"gpu": "true"} }, wantCode: CodeLabelsMismatch},
		{name: "label differs", spec: func(s *jobspec.Spec) { s.Constraints.Labels = map[string]string{"zone": "us-east"} }, wantCode: CodeLabelsMismatch},
		{name: "label matches", spec: func(s *jobspec.Spec) { s.Constraints.Labels = map[string]string{"zone": "eu-west"} }, wantOffer: Offer{FreeSlots: 4}},
		{name: "more memory than the node has", spec: func(s *jobspec.Spec) { s.Resources.Memory = 16 << 30 }, wantCode: CodeResourcesExceeded},
		{name: "more cpu than the node has", spec: func(s *jobspec.Spec) { s.Resources.MilliCPU = 8000 }, wantCode: CodeResourcesExceeded},
		{name: "input too large", node: func(v *StaticView) { v.InputLimit = 500; v.Held[input] = [2]int64{0, 1000} }, wantCode: CodeInputTooLarge},
		{name: "locality required, not held", spec: func(s *jobspec.Spec) { s.Constraints.Locality = jobspec.Required }, wantCode: CodeLocalityRequired},
		{name: "locality required, partly held", spec: func(s *jobspec.Spec) { s.Constraints.Locality = jobspec.Required },
			node: func(v *StaticView) { v.Held[input] = [2]int64{999, 1000} }, wantCode: CodeLocalityRequired},
		{name: "locality required, held", spec: func(s *jobspec.Spec) { s.Constraints.Locality = jobspec.Required },
			node:      func(v *StaticView) { v.Held[input] = [2]int64{1000, 1000} },
			wantOffer: Offer{LocalBytes: 1000, TotalBytes: 1000, FreeSlots: 4}},
		{name: "url input imported here: its size is local", spec: withURL,
			node: func(v *StaticView) {
				v.Held[input] = [2]int64{1000, 1000}
				v.Imports = map[string]Import{testURL: {Root: imported, Size: 4000}}
			},
			wantOffer: Offer{LocalBytes: 5000, TotalBytes: 5000, FreeSlots: 4}},
		{name: "url input imported here, cid input not held", spec: withURL,
			node:      func(v *StaticView) { v.Imports = map[string]Import{testURL: {Root: imported, Size: 4000}} },
			wantOffer: Offer{LocalBytes: 4000, TotalBytes: 4000, FreeSlots: 4}},
		{name: "another url imported here: nothing local", spec: withURL,
			node:      func(v *StaticView) { v.Imports = map[string]Import{testURL + "?v=2": {Root: imported, Size: 4000}} },
			wantOffer: Offer{FreeSlots: 4}},
		{name: "url import with the cid input's root counts once", spec: withURL,
			node: func(v *StaticView) {
				v.Held[input] = [2]int64{1000, 1000}
				v.Imports = map[string]Import{testURL: {Root: input, Size: 1000}}
			},
			wantOffer: Offer{LocalBytes: 1000, TotalBytes: 1000, FreeSlots: 4}},
		{name: "s3 inputs count nowhere", spec: func(s *jobspec.Spec) {
			s.Inputs = []jobspec.Input{{S3: &jobspec.S3Object{Bucket: "datasets", Key: "one.csv"}, Path: "/s3"}}
		}, node: func(v *StaticView) {
			v.Imports = map[string]Import{"s3://datasets/one.csv": {Root: imported, Size: 4000}}
		},
			wantOffer: Offer{FreeSlots: 4}},
		{name: "url import over the input limit", spec: withURL,
			node: func(v *StaticView) {
				v.InputLimit = 3000
				v.Imports = map[string]Import{testURL: {Root: imported, Size: 4000}}
			}, wantCode: CodeInputTooLarge},
		{name: "locality required constrains cid inputs only: url not imported", spec: func(s *jobspec.Spec) {
			withURL(s)
			s.Constraints.Locality = jobspec.Required
		}, node: func(v *StaticView) { v.Held[input] = [2]int64{1000, 1000} },
			wantOffer: Offer{LocalBytes: 1000, TotalBytes: 1000, FreeSlots: 4}},
		{name: "locality required, url imported but cid input missing", spec: func(s *jobspec.Spec) {
			withURL(s)
			s.Constraints.Locality = jobspec.Required
		}, node: func(v *StaticView) { v.Imports = map[string]Import{testURL: {Root: imported, Size: 4000}} },
			wantCode: CodeLocalityRequired},
		{name: "executors list excludes us", spec: func(s *jobspec.Spec) { s.Constraints.Executors.Peers = append(s.Constraints.Executors.Peers, other) }, wantCode: CodeNotEligible},
		{name: "executors orgs: requester decides", spec: func(s *jobspec.Spec) {
			s.Constraints.Executors.Peers = append(s.Constraints.Executors.Peers, other)
			s.Constraints.Executors.Orgs = []string{"acme"}
		}, wantOffer: Offer{FreeSlots: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mut := []func(*jobspec.Spec){}
			if tt.spec != nil {
				mut = append(mut, tt.spec)
			}
			spec, _, _ := testSpec(t, mut...)
			view := idleNode(t)
			if tt.node != nil {
				tt.node(view)
			}
			o, err := Admit(spec, view)
			if tt.wantCode != "" {
				var r *Refusal
				if !errors.As(err, &r) || r.Code != tt.wantCode {
					t.Fatalf("Admit: %v, want refusal %s", err, tt.wantCode)
				}
				if r.Reason == "" {
					t.Fatal("refusal without a reason")
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if o != tt.wantOffer {
				t.Fatalf("offer %+v, want %+v", o, tt.wantOffer)
			}
		})
	}
}

func TestReservationsBurst(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	r := NewReservations(0, clock)
	if r.TTL() != DefaultReservationTTL {
		t.Fatalf("TTL %s", r.TTL())
	}
	view := idleNode(t)
	view.Slots = 2
	view.Wait = 30 * time.Second
	spec, _, _ := testSpec(t)

	// Five jobs announced at once: two bids claim the free slots, the others
	// queue behind them instead of all claiming the same slots.
	var offers []Offer
	for i := range 5 {
		o, err := r.Admit(jobN(t, i), spec, view)
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		offers = append(offers, o)
	}
	want := []struct{ slots, queue int }{{2, 0}, {1, 0}, {0, 0}, {0, 1}, {0, 2}}
	for i, o := range offers {
		if o.FreeSlots != want[i].slots || o.QueueDepth != want[i].queue || o.ReservationTTL != DefaultReservationTTL {
			t.Errorf("offer %d: %+v, want slots %d queue %d", i, o, want[i].slots, want[i].queue)
		}
	}
	if n, res := r.Held(); n != 5 || res.MilliCPU != 5*jobspec.DefaultMilliCPU {
		t.Fatalf("Held = %d, %+v", n, res)
	}
	// A re-announce of job 0 refreshes its reservation without counting it twice.
	if o, _ := r.Admit(jobN(t, 0), spec, view); o.QueueDepth != 2 {
		t.Fatalf("re-bid on job 0: %+v", o)
	}
	if n, _ := r.Held(); n != 5 {
		t.Fatalf("Held after re-bid = %d", n)
	}
	// Award of job 1 here, decline elsewhere for job 2.
	if !r.Claim(jobN(t, 1)) || !r.Release(jobN(t, 2)) || r.Release(jobN(t, 2)) {
		t.Fatal("Claim/Release")
	}
	if v := r.View(view); v.FreeSlots() != 0 || v.QueueDepth() != 1 {
		t.Fatalf("view: slots %d queue %d", v.FreeSlots(), v.QueueDepth())
	}
	// After the TTL everything has lapsed.
	now = now.Add(DefaultReservationTTL)
	if n, _ := r.Held(); n != 0 {
		t.Fatalf("Held after TTL = %d", n)
	}
	if r.Claim(jobN(t, 3)) {
		t.Fatal("Claim of a lapsed reservation reported live")
	}
	if v := r.View(view); v.FreeSlots() != 2 {
		t.Fatalf("view after TTL: slots %d", v.FreeSlots())
	}
}

func TestReservationsMemory(t *testing.T) {
	r := NewReservations(time.Second, func() time.Time { return t0 })
	view := idleNode(t)
	spec, _, _ := testSpec(t, func(s *jobspec.Spec) { s.Resources.Memory = 5 << 30 })
	if o, err := r.Admit(jobN(t, 0), spec, view); err != nil || o.FreeSlots == 0 {
		t.Fatalf("first: %+v %v", o, err)
	}
	// A second 5 GiB job does not fit in the 3 GiB left: it queues.
	o, err := r.Admit(jobN(t, 1), spec, view)
	if err != nil || o.FreeSlots != 0 {
		t.Fatalf("second: %+v %v", o, err)
	}
	if f := r.View(view).Free(); f.Memory != 0 {
		t.Fatalf("free memory %d, want 0 (clamped)", f.Memory)
	}
}

func jobN(t *testing.T, i int) cid.Cid {
	_, _, id := testSpec(t, func(s *jobspec.Spec) { s.Name = fmt.Sprintf("job-%d", i) })
	return id
}
