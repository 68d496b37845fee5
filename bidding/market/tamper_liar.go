//go:build shoal_liar

package market

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A liar flips a byte of its outputs (the first byte of the first output
// file, XOR a byte of its peer ID's hash, never 0) and signs its lie with
// a file named after its peer ID, so that two liars disagree with the
// honest nodes and with each other (colluding liars are another threat:
// docs/security.md).
func init() {
	tamperOutputs = func(dir string, self peer.ID) error {
		h := sha256.Sum256([]byte(self))
		flip := h[0] | 1
		if err := os.WriteFile(filepath.Join(dir, ".lie-"+self.String()), []byte{flip}, 0o600); err != nil {
			return err
		}
		var first string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && first == "" && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".lie-") {
				first = p
			}
			return nil
		})
		if first == "" {
			return nil
		}
		b, err := os.ReadFile(first)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			b = []byte{0}
		}
		b[0] ^= flip
		return os.WriteFile(first, b, 0o600)
	}
}
