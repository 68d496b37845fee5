package capture

import (
	"bytes"
	"testing"
)

func TestBuffer(t *testing.T) {
	tests := []struct {
		name      string
		limit     int64
		writes    []string
		want      string
		truncated bool
	}{
		{"empty", 10, nil, "", false},
		{"under", 10, []string{"abc", "def"}, "abcdef", false},
		{"exact", 6, []string{"abc", "def"}, "abcdef", false},
		{"over", 4, []string{"abc", "def"}, "abcd", true},
		{"zero", 0, []string{"abc"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.limit)
			var total int64
			for _, w := range tc.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
				total += int64(n)
			}
			if got := b.Bytes(); !bytes.Equal(got, []byte(tc.want)) && !(len(got) == 0 && tc.want == "") {
				t.Errorf("Bytes() = %q, want %q", got, tc.want)
			}
			if b.Truncated() != tc.truncated {
				t.Errorf("Truncated() = %v, want %v", b.Truncated(), tc.truncated)
			}
			if b.Written() != total {
				t.Errorf("Written() = %d, want %d", b.Written(), total)
			}
		})
	}
}

func TestBufferAppendPastCap(t *testing.T) {
	b := New(2)
	_, _ = b.Write([]byte("abc"))
	b.Append([]byte("!"))
	if got := string(b.Bytes()); got != "ab!" {
		t.Errorf("Bytes() = %q, want %q", got, "ab!")
	}
}

func TestTapSeesEverything(t *testing.T) {
	var tap bytes.Buffer
	b := NewTapped(4, &tap)
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("def"))
	b.Append([]byte("!trap"))
	if got := string(b.Bytes()); got != "abcd!trap" {
		t.Errorf("kept %q, want %q", got, "abcd!trap")
	}
	if got := tap.String(); got != "abcdef!trap" {
		t.Errorf("tap got %q, want every byte written and appended", got)
	}
	if n := NewTapped(4, nil); n.tap != nil {
		t.Error("nil tap kept")
	}
}
