package content

import (
	"strings"
	"testing"
)

// FuzzParseCID: ParseCID never panics, names its input on error, and a CID
// it accepts parses back from its own string form.
func FuzzParseCID(f *testing.F) {
	for _, s := range []string{
		"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
		"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
		"/ipfs/bafybeia24laqcpnyyuz4zxreyl5x6ws6bfr4ch3ee4vgof7p2bbhg4f4vi",
		"", "xyz", "z", "f01", "b", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCID(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid CID ") {
				t.Fatalf("error %q does not start with 'invalid CID'", err)
			}
			return
		}
		again, err := ParseCID(c.String())
		if err != nil || !again.Equals(c) {
			t.Fatalf("%q parsed to %s, which parses back to %s, %v", s, c, again, err)
		}
	})
}

// FuzzParseChunker: ParseChunker never panics, and a chunker it accepts is
// within bounds and parses back from its String form to the same value.
func FuzzParseChunker(f *testing.F) {
	for _, s := range []string{
		"", "default", "size-262144", "size-1", "size-0", "size-2097152",
		"rabin", "rabin-262144", "rabin-16-32-64", "rabin-min:16-avg:32-max:64",
		"buzhash", "size-99999999999999999999", "rabin--1-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChunker(s)
		if err != nil {
			return
		}
		switch c.Kind {
		case "size":
			if c.Size < 1 || c.Size > int64(MaxChunkSize) {
				t.Fatalf("%q: size %d out of bounds", s, c.Size)
			}
		case "rabin":
			if c.Min < 16 || c.Min >= c.Size || c.Size >= c.Max || c.Max > int64(MaxChunkSize) {
				t.Fatalf("%q: rabin bounds %+v", s, c)
			}
		case "buzhash":
		default:
			t.Fatalf("%q: unknown kind %q", s, c.Kind)
		}
		again, err := ParseChunker(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, c, c.String(), again, err)
		}
	})
}
