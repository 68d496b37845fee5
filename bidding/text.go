package bidding

import (
	"strings"
	"unicode/utf8"
)

// TruncateText returns s as valid UTF-8 of at most n bytes, so that it
// passes the text limits of the messages (MaxReasonLen, MaxErrorLen):
// invalid bytes become U+FFFD and the cut falls on a rune boundary, never
// inside one. It is the one truncation helper for text that goes on the
// wire; a cut at a byte count can split a rune, and the message then fails
// to seal.
func TruncateText(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
