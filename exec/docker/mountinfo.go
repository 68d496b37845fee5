package docker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// tmpfsMount is a tmpfs mount of this process's mount namespace.
type tmpfsMount struct {
	point, source string
}

// outputsMounts returns the outputs tmpfs mounts (see [MountSource]) listed
// in /proc/self/mountinfo: those of instance, or with "" those of every
// instance.
func outputsMounts(instance string) ([]tmpfsMount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var ms []tmpfsMount
	for _, m := range parseMountinfo(b) {
		if m.source == MountSource+":"+instance || instance == "" && (m.source == MountSource || strings.HasPrefix(m.source, MountSource+":")) {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// parseMountinfo returns the tmpfs mounts of a mountinfo file (proc(5)):
// "ID parent major:minor root point options [optional...] - type source
// superoptions", fields escaped as \ooo.
func parseMountinfo(b []byte) []tmpfsMount {
	var ms []tmpfsMount
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) || f[sep+1] != "tmpfs" {
			continue
		}
		ms = append(ms, tmpfsMount{point: unescapeMount(f[4]), source: unescapeMount(f[sep+2])})
	}
	return ms
}

// unescapeMount undoes the \ooo escapes of a mountinfo field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
