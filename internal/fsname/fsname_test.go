package fsname

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "a.txt": true, ".hidden": true, "...": true, "a b": true, `back\slash`: true, "ünï": true,
		"": false, ".": false, "..": false, "a/b": false, "/": false, "../x": false, "a\x00b": false,
	} {
		err := Check(name)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadName)) {
			t.Errorf("Check(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
