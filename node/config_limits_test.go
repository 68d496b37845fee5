package node

import (
	"strings"
	"testing"
)

// jobs.max_input_bytes and max_output_bytes: 0 is the 16 GiB default, -1 no
// limit, below -1 a clear error.
func TestJobsByteLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       int64
		want    int64
		wantErr string
	}{
		{"unset", 0, 16 << 30, ""},
		{"set", 1 << 20, 1 << 20, ""},
		{"no limit", -1, 0, ""},
		{"invalid", -2, 0, "jobs.max_input_bytes is -2: use a size in bytes, 0 for the default (17179869184) or -1 for no limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DefaultConfig(ProfileLocal)
			if err != nil {
				t.Fatal(err)
			}
			c.Jobs.MaxInputBytes, c.Jobs.MaxOutputBytes = tc.v, tc.v
			err = c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Jobs.InputLimit(); got != tc.want {
				t.Fatalf("InputLimit %d, want %d", got, tc.want)
			}
			if got := c.Jobs.OutputLimit(); got != tc.want {
				t.Fatalf("OutputLimit %d, want %d", got, tc.want)
			}
		})
	}
}
