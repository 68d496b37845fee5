package publish

import (
	"io/fs"
	"path/filepath"
)

// countFiles counts the regular files under dir, as s3io.Upload puts them.
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}
