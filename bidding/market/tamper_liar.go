//go:build shoal_liar

package market

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A liar flips a byte of its outputs: of the first output file, XOR a
// byte of its own peer ID's hash (never 0), so that two liars disagree
// with the honest nodes and with each other; with no output file it
// writes one.
func init() {
	tamperOutputs = func(dir string, self peer.ID) error {
		h := sha256.Sum256([]byte(self))
		flip := h[0] | 1
		var first string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && first == "" && d.Type().IsRegular() {
				first = p
			}
			return nil
		})
		if first == "" {
			return os.WriteFile(filepath.Join(dir, "lie"), []byte{flip}, 0o600)
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
