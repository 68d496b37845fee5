package docker

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// LoadNamespace is the repository under which the executor names the images
// it loads from tarballs: shoal-load/<digest of the tarball's
// manifest.json>:<index in it>. A tarball's own names (RepoTags,
// "repositories", OCI ref-name annotations) are never given to the engine,
// so a job cannot take over a name such as alpine:3.20.
const LoadNamespace = "shoal-load"

// maxTarMeta bounds the manifest.json and index.json a tarball may hold.
const maxTarMeta = 1 << 20

// ErrBadImageTar reports an image tarball the executor refuses to load; it
// wraps [exec.ErrImageNotFound] where Run returns it.
var ErrBadImageTar = errors.New("docker: bad image tarball")

// tarImage is one image of a retagged tarball.
type tarImage struct {
	Tag      string   // the name the engine gives it (in LoadNamespace)
	RepoTags []string // the names the tarball claimed, never given
}

// retagTar copies the `docker save` tarball r to w with its names replaced:
// each image of manifest.json gets one tag in [LoadNamespace] instead of its
// RepoTags, the legacy "repositories" file is dropped, and the name
// annotations of index.json (OCI layout) are removed. It refuses a tarball
// without manifest.json, a manifest.json, index.json or repositories that is
// not a regular file or is larger than 1 MiB, and an entry below a symlink
// or hard link entry (which could land on those files when the engine
// extracts the tarball).
func retagTar(w io.Writer, r io.Reader) ([]tarImage, error) {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	links := map[string]bool{} // names of symlink and hard link entries
	var images []tarImage
	seen := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadImageTar, err)
		}
		name := path.Clean("/" + h.Name)[1:]
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if links[d] {
				return nil, fmt.Errorf("%w: entry %q is below the link %q", ErrBadImageTar, h.Name, d)
			}
		}
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			links[name] = true
		}
		switch name {
		case "manifest.json", "index.json", "repositories":
		default:
			if err := copyEntry(tw, h, tr); err != nil {
				return nil, err
			}
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadImageTar, h.Name)
		}
		if h.Size > maxTarMeta {
			return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d allowed", ErrBadImageTar, h.Name, h.Size, maxTarMeta)
		}
		if name == "repositories" {
			continue // names only: dropped
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxTarMeta))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadImageTar, h.Name, err)
		}
		switch name {
		case "manifest.json":
			b, images, err = retagManifest(b)
			seen = true
		case "index.json":
			b, err = stripIndexNames(b)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadImageTar, h.Name, err)
		}
		h.Size = int64(len(b))
		if err := copyEntry(tw, h, bytes.NewReader(b)); err != nil {
			return nil, err
		}
	}
	if !seen {
		return nil, fmt.Errorf("%w: no manifest.json (want the output of docker save)", ErrBadImageTar)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return images, nil
}

func copyEntry(tw *tar.Writer, h *tar.Header, r io.Reader) error {
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadImageTar, h.Name, err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadImageTar, h.Name, err)
	}
	return nil
}

// retagManifest replaces the RepoTags of each image of a docker save
// manifest.json by one tag in LoadNamespace, keeping its other fields.
func retagManifest(b []byte) ([]byte, []tarImage, error) {
	var ms []map[string]json.RawMessage
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, nil, err
	}
	if len(ms) == 0 {
		return nil, nil, errors.New("no image")
	}
	sum := sha256.Sum256(b)
	repo := LoadNamespace + "/" + hex.EncodeToString(sum[:12])
	images := make([]tarImage, len(ms))
	for i, m := range ms {
		if raw, ok := m["RepoTags"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &images[i].RepoTags); err != nil {
				return nil, nil, fmt.Errorf("image %d: RepoTags: %w", i, err)
			}
		}
		images[i].Tag = fmt.Sprintf("%s:%d", repo, i)
		tags, _ := json.Marshal([]string{images[i].Tag})
		m["RepoTags"] = tags
	}
	out, err := json.Marshal(ms)
	return out, images, err
}

// Annotations of an OCI index that name an image.
var nameAnnotations = []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"}

// stripIndexNames removes the name annotations from the manifests of an
// OCI index.json, keeping its other fields.
func stripIndexNames(b []byte) ([]byte, error) {
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, err
	}
	raw, ok := idx["manifests"]
	if !ok {
		return b, nil
	}
	var ms []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	for _, m := range ms {
		a, ok := m["annotations"]
		if !ok {
			continue
		}
		var ann map[string]string
		if err := json.Unmarshal(a, &ann); err != nil {
			return nil, fmt.Errorf("annotations: %w", err)
		}
		for _, k := range nameAnnotations {
			delete(ann, k)
		}
		m["annotations"], _ = json.Marshal(ann)
	}
	idx["manifests"], _ = json.Marshal(ms)
	return json.Marshal(idx)
}

// sameImageName reports whether two image references name the same image,
// as the engine normalizes them ("alpine" = "alpine:latest" =
// "docker.io/library/alpine:latest").
func sameImageName(a, b string) bool { return normalizeRef(a) == normalizeRef(b) }

func normalizeRef(r string) string {
	if !strings.Contains(r, "@") && !strings.Contains(r[strings.LastIndex(r, "/")+1:], ":") {
		r += ":latest"
	}
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if s, ok := strings.CutPrefix(r, p); ok {
			r = s
			break
		}
	}
	if !strings.Contains(r, "/") {
		r = "library/" + r
	}
	return r
}
