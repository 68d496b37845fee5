// Package fsname is the rule for a name that becomes one entry of a
// directory on disk: the content layer applies it when a DAG becomes files
// (and when the daemon builds a tar archive of one), the CLI again when it
// extracts that archive. It imports nothing but the standard library, so
// that both ends share one piece of code and its fuzz tests stay fast.
package fsname

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadName is matched by every error of Check.
var ErrBadName = errors.New("invalid directory entry name")

// Check reports whether name may be a directory entry written to disk: not
// empty, not "." or "..", and without "/" or NUL. A UnixFS directory is
// only a list of links, so its names are whatever its author wrote; these
// are the names that would leave the directory or not be one file name.
func Check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrBadName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q names a directory itself, not an entry in it", ErrBadName, name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("%w: %q contains a slash", ErrBadName, name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%w: %q contains a NUL byte", ErrBadName, name)
	}
	return nil
}
