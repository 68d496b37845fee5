package bidding

import (
	"strings"
	"testing"
)

// FuzzParseAwardID: award IDs come from the wire (award, status, cancel)
// and from the API's URLs. Parsing never panics, and what parses is 16
// bytes whose canonical text is the input in lower case.
func FuzzParseAwardID(f *testing.F) {
	f.Add(NewAwardID().String())
	f.Add(strings.ToUpper(NewAwardID().String()))
	f.Add("")
	f.Add("zz" + strings.Repeat("0", 30))
	f.Add(strings.Repeat("0", 33))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseAwardID(s)
		if err != nil {
			return
		}
		if id.String() != strings.ToLower(s) {
			t.Fatalf("ParseAwardID(%q) = %s", s, id)
		}
		var back AwardID
		if err := back.UnmarshalText([]byte(id.String())); err != nil || back != id {
			t.Fatalf("award ID %s does not round-trip: %v", id, err)
		}
	})
}
