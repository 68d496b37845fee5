package main

import (
	"io"

	"github.com/shoalnet/shoal/internal/untar"
)

// topName is the name the daemon gives the top entry of a get archive.
const topName = "out"

// checkDest refuses an existing destination unless it is an empty directory
// or empty file, or force is set.
func checkDest(dest string, force bool) error { return untar.CheckDest(dest, force) }

// extractTar writes the get archive r to dest, never outside it (see
// untar.Extract): into a temporary sibling first, renamed into place at the
// end, so an interrupted get leaves dest as it was.
func extractTar(r io.Reader, dest string, force bool) error {
	return untar.Extract(r, dest, topName, force)
}
