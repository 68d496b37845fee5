package bidding

import (
	"fmt"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Org membership certificates ride in announces and bids under the key
// "certs": a list of at most MaxCerts byte strings of at most MaxCertSize
// bytes each. This package treats them as opaque; bidding/trust decodes and
// verifies them. The key is omitted when the list is empty, so a message
// without certificates has exactly the encoding (and signature) it had
// before the key existed.

func getCerts(r *dag.Reader, key string) [][]byte {
	return r.BytesList(key, MaxCerts)
}

func (c *checker) certs(field string, certs [][]byte) {
	if len(certs) > MaxCerts {
		c.failf(field, "%d certificates, limit %d", len(certs), MaxCerts)
		return
	}
	for i, b := range certs {
		if len(b) == 0 || len(b) > MaxCertSize {
			c.failf(fmt.Sprintf("%s[%d]", field, i), "certificate of %d bytes: want 1 to %d", len(b), MaxCertSize)
			return
		}
	}
}
