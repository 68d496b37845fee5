package api

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
)

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"timeout: ran past 1s on 12D3KooWX", "timeout"},
		{"fetch_failed: input bafy…: not found", "fetch_failed"},
		{"out_of_memory", "out_of_memory"},
		{"no_capacity: queue full", "no_capacity"},
		{"bad_input: symlink root on A; exit code 1 on B", "bad_input"},
		{"exit code 1 on 12D3KooWX", ""},
		{"no receipt", ""},
		{"cancelled by the user", ""},
		{"job spec: invalid", ""},
		{"failed: timeout: x", ""},
		{"Timeout: x", ""},
		{"made_up_code: x", ""},
		{"", ""},
	} {
		if got := errorCode(tc.msg); got != tc.want {
			t.Errorf("errorCode(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// The API's states are the requester's: same values, same terminal ones.
func TestJobStatesMatchProtocol(t *testing.T) {
	for _, s := range []bidding.JobState{bidding.JobPending, bidding.JobBidding, bidding.JobAwarded, bidding.JobRunning,
		bidding.JobCompleted, bidding.JobFailed, bidding.JobCancelled} {
		a := JobState(s)
		if !slices.Contains([]JobState{JobPending, JobBidding, JobAwarded, JobRunning, JobCompleted, JobFailed, JobCancelled}, a) {
			t.Errorf("state %q has no API constant", s)
		}
		if a.Terminal() != s.Terminal() {
			t.Errorf("state %q: API Terminal %v, protocol %v", s, a.Terminal(), s.Terminal())
		}
	}
}

// The API shows what it showed when it served the storage record itself:
// every field under the same JSON name and value, plus error_code. A
// change of market.Job must not change the API; this test is where it
// would show.
func TestJobJSONKeepsNames(t *testing.T) {
	j := &market.Job{ID: "bafyjob", Name: "n", Type: "batch", Engine: "wasm", Count: 1,
		Created: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC()}
	failedTimeout(j)
	old := jsonMap(t, j)
	got := jsonMap(t, jobOf(j))
	added := diffKeys(t, "", old, got)
	slices.Sort(added)
	want := []string{".awards[0].error_code", ".awards[1].error_code", ".error_code", ".receipts[0].error_code"}
	if !slices.Equal(added, want) {
		t.Fatalf("fields added to the old shape: %q, want %q", added, want)
	}
	// A list entry is the summary the store kept, plus error_code, minus
	// the empty event log the old list showed as "events": null.
	sum := jsonMap(t, jobSummaryOf(j))
	oldSum := jsonMap(t, &market.Job{ID: j.ID, Name: j.Name, Type: j.Type, Engine: j.Engine, Count: j.Count, State: j.State,
		Created: j.Created, Updated: j.Updated, Attempts: j.Attempts, Error: j.Error})
	delete(oldSum, "events")
	if added := diffKeys(t, "", oldSum, sum); !slices.Equal(added, []string{".error_code"}) {
		t.Fatalf("list entry adds %q, want only error_code", added)
	}
}

func jsonMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// diffKeys fails where got lacks or changes a value of old, and returns
// the paths of the keys got adds.
func diffKeys(t *testing.T, path string, old, got any) []string {
	t.Helper()
	switch o := old.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Fatalf("%s: %v became %v", path, old, got)
		}
		var added []string
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := o[k]; !ok {
				added = append(added, path+"."+k)
			}
		}
		for k, v := range o {
			if _, ok := g[k]; !ok {
				t.Fatalf("%s.%s: missing from the API (was %v)", path, k, v)
			}
			added = append(added, diffKeys(t, path+"."+k, v, g[k])...)
		}
		return added
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(o) {
			t.Fatalf("%s: %v became %v", path, old, got)
		}
		var added []string
		for i := range o {
			added = append(added, diffKeys(t, path+"["+strconv.Itoa(i)+"]", o[i], g[i])...)
		}
		return added
	}
	if !reflect.DeepEqual(old, got) {
		t.Fatalf("%s: %v became %v", path, old, got)
	}
	return nil
}
