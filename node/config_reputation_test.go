package node

import (
	"strings"
	"testing"
)

// TestConfigRefuseDisagreementDays: jobs.refuse_disagreement_days is 0
// (off) to 3650; anything else is refused with the key and the range.
func TestConfigRefuseDisagreementDays(t *testing.T) {
	for _, tc := range []struct {
		days int
		ok   bool
	}{{0, true}, {30, true}, {3650, true}, {-1, false}, {3651, false}} {
		c, err := DefaultConfig(ProfileLocal)
		if err != nil {
			t.Fatal(err)
		}
		c.Jobs.RefuseDisagreementDays = tc.days
		err = c.Validate()
		if tc.ok != (err == nil) {
			t.Fatalf("%d days: %v, want ok %v", tc.days, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "jobs.refuse_disagreement_days") {
			t.Fatalf("%d days: %v does not name the key", tc.days, err)
		}
	}
}
