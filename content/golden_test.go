package content

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// kuboOptionSet is one documented mapping of AddOptions to kubo flags.
type kuboOptionSet struct {
	name     string
	opts     AddOptions
	kuboArgs []string
}

// kuboOptionSets are the option sets documented in the package doc.
var kuboOptionSets = []kuboOptionSet{
	{"kubo-defaults", AddOptions{CIDVersion: new(0)}, nil},
	{"cidv1", AddOptions{}, []string{"--cid-version=1"}},
	{"cidv1-dagpb-leaves", AddOptions{RawLeaves: new(false)}, []string{"--cid-version=1", "--raw-leaves=false"}},
	{"1MiB-1024", AddOptions{Chunker: "size-1048576", MaxLinks: 1024}, []string{"--cid-version=1", "--chunker=size-1048576", "--max-file-links=1024"}},
}

// goldenData names deterministic inputs.
func goldenData(name string) []byte {
	switch name {
	case "empty":
		return nil
	case "one-byte":
		return []byte{'x'}
	case "small":
		return []byte("hello shoal\n")
	case "10MiB":
		return randBytes(1, 10<<20)
	case "45MiB": // more than 174 chunks: a two-level tree at 256 KiB
		return randBytes(2, 45<<20+7)
	default:
		panic("unknown golden data " + name)
	}
}

var goldenInputs = []string{"empty", "one-byte", "small", "10MiB", "45MiB"}

// goldenCase is one input under one option set, with kubo's CID for it.
type goldenCase struct {
	name, data string
	opts       AddOptions
	kuboArgs   []string
	want       string
}

// kuboGoldenCIDs are the CIDs kubo v0.43.1 `ipfs add` gives, by
// "option set/input" (recorded from TestKuboAddCIDs's log).
var kuboGoldenCIDs = map[string]string{
	"kubo-defaults/empty":         "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
	"kubo-defaults/one-byte":      "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC",
	"kubo-defaults/small":         "QmUrNZ4eJ8xpHfrka29Kfb8wLo5j76UDu4d74S3NwJ3is1",
	"kubo-defaults/10MiB":         "QmaE9ZznWjtgLQPPFnevAx6dh1XuXMJk8xgA71hqPyUhEV",
	"kubo-defaults/45MiB":         "QmWQpQHMufKZfFFYskJvo6FVeHUZmJvyh6N1XMP38prLBP",
	"cidv1/empty":                 "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
	"cidv1/one-byte":              "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe",
	"cidv1/small":                 "bafkreia2sbpknlj3ibwwdglinpxrsy7bc4xinezgmbwymbr7aigxnhirf4",
	"cidv1/10MiB":                 "bafybeiau3tfzl4pzbg6rry3ed2w2wv5y2iwmffliiu5nby3psrbsoej464",
	"cidv1/45MiB":                 "bafybeiavwmrf7i3o5vmocyc75jwafclvotxwg6sq45acj6vgp4j6tjslli",
	"cidv1-dagpb-leaves/empty":    "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y",
	"cidv1-dagpb-leaves/one-byte": "bafybeiczcctdlznuiia25cbxs3bmdsinqecjoqocn43kvxcy4u5fgouucu",
	"cidv1-dagpb-leaves/small":    "bafybeidayndt2xq536izugxkljkrc4pw6mhvcpbhhbttnsx2tciockzppa",
	"cidv1-dagpb-leaves/10MiB":    "bafybeicowzbrqywhlndzrunvd6lcecaevhexfsthv3fhgrzeigvkha6gfi",
	"cidv1-dagpb-leaves/45MiB":    "bafybeihfloyd42xis43oqtv6gmg6vsuvlwhbz7efp5t5tcntl2ejlaflne",
	"1MiB-1024/empty":             "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
	"1MiB-1024/one-byte":          "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe",
	"1MiB-1024/small":             "bafkreia2sbpknlj3ibwwdglinpxrsy7bc4xinezgmbwymbr7aigxnhirf4",
	"1MiB-1024/10MiB":             "bafybeiafwh4rx6cnlsv7bz3idlgtadm5ocdegiin6gzgftfar5by74vs5a",
	"1MiB-1024/45MiB":             "bafybeiapjgwsjs6ejstr7ouc5jucahikbuq2owlkrtk2gv52n7sqjywsee",
}

// kuboGolden is every input under every option set.
var kuboGolden = func() []goldenCase {
	var out []goldenCase
	for _, set := range kuboOptionSets {
		for _, in := range goldenInputs {
			name := set.name + "/" + in
			out = append(out, goldenCase{name, in, set.opts, set.kuboArgs, kuboGoldenCIDs[name]})
		}
	}
	return out
}()

// goldenDir is a directory tree added in the interop and golden tests.
type goldenDir struct{ name, path string }

// goldenDirs makes the directories whose CIDs are compared with kubo's: the
// tree of makeTree (nested and empty directories, empty and 1-byte files,
// symlinks), a small flat directory, and one large enough to be
// HAMT-sharded (4000 entries of about 100 bytes of name plus CID pass the
// 256 KiB estimate).
func goldenDirs(tb testing.TB) []goldenDir {
	tb.Helper()
	mk := func(name string, n int, format string) string {
		d := filepath.Join(tb.TempDir(), name)
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		for i := range n {
			f := fmt.Sprintf(format, i)
			if err := os.WriteFile(filepath.Join(d, f), []byte(f), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		return d
	}
	return []goldenDir{
		{"tree", makeTree(tb)},
		{"small-dir", mk("small", 50, "f%02d")},
		{"hamt-dir", mk("hamt", 4000, "entry-%05d-with-a-rather-long-name-to-grow-the-directory.txt")},
	}
}

// kuboGoldenDirCIDs are kubo v0.43.1's `ipfs add -r` CIDs of goldenDirs by
// "option set/directory" (recorded from TestKuboAddCIDs's log).
var kuboGoldenDirCIDs = map[string]string{
	"kubo-defaults/tree":           "QmaQhrMy85KpKUC8QTQP6rEYgABA4vekg1ySCkNrkNfzpG",
	"kubo-defaults/small-dir":      "Qmev9ycwnRsNQ5Ws9hSZzYfYjCB9UtBd4tp2Zt632CuWXM",
	"kubo-defaults/hamt-dir":       "QmQPsirttJfJcD2dihYZqauZSki2xE6apNzHLkQ1hYkLXw",
	"cidv1/tree":                   "bafybeia24laqcpnyyuz4zxreyl5x6ws6bfr4ch3ee4vgof7p2bbhg4f4vi",
	"cidv1/small-dir":              "bafybeianz3rajx7hlhufbucf3izzyl3ien4la363gwl7hsxwkmnhfanici",
	"cidv1/hamt-dir":               "bafybeiax5mvha5k22p3ay7vtbdr65lula3zrt3zsn6ylcuhmtbhvwjl3uy",
	"cidv1-dagpb-leaves/tree":      "bafybeigosxfx6x634s2liuovz2w7xc2omhmd3b6vbzmgbowfolmydgdf2u",
	"cidv1-dagpb-leaves/small-dir": "bafybeidcvkf2mymcrjbxnja2ffdst7vwcz6c4hir2swts5a3gj3oq3oywi",
	"cidv1-dagpb-leaves/hamt-dir":  "bafybeicaagu3a36db6l5onzwqyjla4qeiha667ievklm5reg3ozqwdfzde",
	"1MiB-1024/tree":               "bafybeiabbyk44qgz4qsxwh4pccnlprhhwembosnp5w56opxkhkfm2h6mh4",
	"1MiB-1024/small-dir":          "bafybeianz3rajx7hlhufbucf3izzyl3ien4la363gwl7hsxwkmnhfanici",
	"1MiB-1024/hamt-dir":           "bafybeiax5mvha5k22p3ay7vtbdr65lula3zrt3zsn6ylcuhmtbhvwjl3uy",
}
