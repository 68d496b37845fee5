package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

type tarEntry struct {
	name, link string
	typ        byte
	data       string
}

func makeTar(t *testing.T, es ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o644}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.data)
	}
	tw.Close()
	return b.Bytes()
}

// readTar returns the regular files of a tarball by name.
func readTar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		d, _ := io.ReadAll(tr)
		files[h.Name] = string(d)
	}
}

func TestRetagTar(t *testing.T) {
	manifest := `[{"Config":"blobs/sha256/aa","RepoTags":["alpine:3.20","victim:1"],"Layers":["blobs/sha256/bb"],"Extra":1}]`
	index := `{"schemaVersion":2,"manifests":[{"digest":"sha256:cc","annotations":{"io.containerd.image.name":"docker.io/library/alpine:3.20","org.opencontainers.image.ref.name":"3.20","keep":"me"}}]}`
	in := makeTar(t,
		tarEntry{name: "blobs/sha256/bb", data: "layer"},
		tarEntry{name: "./index.json", data: index},
		tarEntry{name: "repositories", data: `{"alpine":{"3.20":"aa"}}`},
		tarEntry{name: "manifest.json", data: manifest},
		tarEntry{name: "old/layer.tar", typ: tar.TypeSymlink, link: "../blobs/sha256/bb"},
	)
	var out bytes.Buffer
	images, err := retagTar(&out, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || !strings.HasPrefix(images[0].Tag, LoadNamespace+"/") || strings.Join(images[0].RepoTags, " ") != "alpine:3.20 victim:1" {
		t.Fatalf("images = %+v", images)
	}
	files := readTar(t, out.Bytes())
	if _, ok := files["repositories"]; ok {
		t.Errorf("repositories kept")
	}
	if m := files["manifest.json"]; strings.Contains(m, "alpine") || !strings.Contains(m, images[0].Tag) || !strings.Contains(m, `"Extra":1`) {
		t.Errorf("manifest.json = %s", m)
	}
	if ix := files["./index.json"]; strings.Contains(ix, "alpine") || strings.Contains(ix, "3.20") || !strings.Contains(ix, `"keep":"me"`) {
		t.Errorf("index.json = %s", ix)
	}
	if files["blobs/sha256/bb"] != "layer" {
		t.Errorf("layer not copied")
	}

	for _, c := range []struct {
		name string
		tar  []byte
	}{
		{"no manifest", makeTar(t, tarEntry{name: "repositories", data: "{}"})},
		{"manifest is a symlink", makeTar(t, tarEntry{name: "evil.json", data: manifest}, tarEntry{name: "manifest.json", typ: tar.TypeSymlink, link: "evil.json"})},
		{"manifest is a hard link", makeTar(t, tarEntry{name: "evil.json", data: manifest}, tarEntry{name: "/manifest.json", typ: tar.TypeLink, link: "evil.json"})},
		{"below a symlink", makeTar(t, tarEntry{name: "manifest.json", data: manifest}, tarEntry{name: "d", typ: tar.TypeSymlink, link: "."}, tarEntry{name: "d/manifest.json", data: manifest})},
		{"manifest too large", makeTar(t, tarEntry{name: "manifest.json", data: strings.Repeat(" ", maxTarMeta+1)})},
		{"manifest not JSON", makeTar(t, tarEntry{name: "manifest.json", data: "{"})},
		{"not a tarball", []byte(strings.Repeat("x", 1024))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := retagTar(io.Discard, bytes.NewReader(c.tar)); !errors.Is(err, ErrBadImageTar) {
				t.Errorf("retagTar error = %v, want ErrBadImageTar", err)
			}
		})
	}
}

func TestSameImageName(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"alpine", "alpine:latest", true},
		{"alpine:3.20", "docker.io/library/alpine:3.20", true},
		{"me/app", "docker.io/me/app:latest", true},
		{"alpine:3.20", "alpine:3.21", false},
		{"localhost:5000/a", "localhost:5000/a:latest", true},
	} {
		if got := sameImageName(c.a, c.b); got != c.want {
			t.Errorf("sameImageName(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
