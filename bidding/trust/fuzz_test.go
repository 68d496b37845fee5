package trust

import (
	"bytes"
	"testing"
)

// FuzzDecodeCert: certificates come from the network (announces, bids,
// capability records). Decoding never panics, and what decodes re-encodes
// to the same bytes and verifies.
func FuzzDecodeCert(f *testing.F) {
	c := issue(f, testKey(f, 1), "acme", testPeer(f, 2), RoleRequester)
	f.Add(c.Bytes())
	f.Add(issue(f, testKey(f, 3), "a.b-c_d", testPeer(f, 4), RoleBoth).Bytes())
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeCert(b)
		if err != nil {
			return
		}
		if !bytes.Equal(got.Bytes(), b) {
			t.Fatalf("decoded certificate re-encodes differently")
		}
		if !ValidOrgName(got.Org) || !got.Expires.After(got.Issued) {
			t.Fatalf("decoded an invalid certificate: %+v", got)
		}
	})
}

// FuzzParseCertFile: certificate files come from users (`shoal org join`).
func FuzzParseCertFile(f *testing.F) {
	c := issue(f, testKey(f, 1), "acme", testPeer(f, 2), RoleExecutor)
	f.Add(c.EncodePEM())
	f.Add(c.Bytes())
	f.Add([]byte("-----BEGIN SHOAL ORG CERTIFICATE-----\n\n-----END SHOAL ORG CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseCertFile(b)
		if err != nil {
			return
		}
		if _, err := DecodeCert(got.Bytes()); err != nil {
			t.Fatalf("a parsed certificate does not decode: %v", err)
		}
	})
}
