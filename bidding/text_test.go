package bidding

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"ascii cut", "abcdef", 5, "abcde"},
		{"2-byte rune across the cut", "abcdé", 5, "abcd"},
		{"3-byte rune across the cut", "ab€x", 3, "ab"},
		{"4-byte rune across the cut", "a🦈", 4, "a"},
		{"rune ends at the cut", "abcé", 5, "abcé"},
		{"invalid bytes replaced", "ab\xffc", 10, "ab\uFFFDc"},
		{"invalid bytes replaced then cut", "ab\xffc", 4, "ab"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TruncateText(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) || len(got) > max(tc.n, 0) {
				t.Errorf("TruncateText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

// Every cut of a text with runes of every width is valid UTF-8 within the
// limit, and a prefix of the input.
func TestTruncateTextEveryCut(t *testing.T) {
	s := strings.Repeat("aé€🦈", 20)
	for n := 0; n <= len(s)+1; n++ {
		got := TruncateText(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasPrefix(s, got) || len(got) < n-3 {
			t.Fatalf("TruncateText(_, %d) = %q", n, got)
		}
	}
}
