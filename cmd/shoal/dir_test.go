package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shoal dir make on a node that holds none of the entries gives the CID
// `shoal add -r` of the same files gives on their holder; the directory
// reads back over the network; add-link and rm-link edit it; mistakes get
// clear errors.
func TestDirMakeCLI(t *testing.T) {
	ds := jobNet(t, 2)
	holder, maker := ds[0], ds[1]
	src := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		p := filepath.Join(src, n)
		if err := os.WriteFile(p, []byte("shard "+n+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, n+"="+addQ(t, holder, p))
	}
	want := addQ(t, holder, "-r", src)
	out, err := maker.Run(append([]string{"dir", "make", "-q"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != want {
		t.Fatalf("dir make = %s, shoal add -r gives %s", got, want)
	}
	got := filepath.Join(t.TempDir(), "got")
	if _, err := maker.Run("get", want, "-o", got); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got, "b.txt")); err != nil || string(b) != "shard b.txt\n" {
		t.Fatalf("b.txt of the made directory, fetched by its maker: %q, %v", b, err)
	}
	part, err := maker.Run("dir", "rm-link", "-q", want, "c.txt")
	if err != nil {
		t.Fatal(err)
	}
	back, err := maker.Run("dir", "add-link", "-q", strings.TrimSpace(part), "c.txt", strings.TrimPrefix(args[2], "c.txt="))
	if err != nil || strings.TrimSpace(back) != want {
		t.Fatalf("rm-link then add-link = %q, %v; want %s", back, err, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dir", "make", "noequals"}, "want NAME=CID"},
		{[]string{"dir", "make", "x=notacid"}, "entry \"x\""},
		{[]string{"dir", "make", "../x=" + want}, ".."},
		{[]string{"dir", "add-link", want, "a.txt", want}, "exists"},
		{[]string{"dir", "rm-link", want, "nope"}, "no such directory entry"},
	} {
		if out, err := maker.Run(tc.args...); err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("shoal %s: %q, %v; want an error with %q", strings.Join(tc.args, " "), out, err, tc.want)
		}
	}
}
