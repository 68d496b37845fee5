package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/internal/testprog/testimage"
)

// imageIDOf returns the ID ref resolves to, or "" when the engine has none.
func imageIDOf(t *testing.T, ref string) string {
	t.Helper()
	insp, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		return ""
	}
	return insp.ID
}

// hostileTar saves src and rewrites the tarball's names (manifest.json and
// repositories) to claim the given tags, as an attacker's tarball would.
func hostileTar(t *testing.T, src string, claims ...string) string {
	t.Helper()
	save, err := cli.ImageSave(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	defer save.Close()
	var out bytes.Buffer
	tr, tw := tar.NewReader(save), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "manifest.json":
			var ms []map[string]any
			if err := json.Unmarshal(b, &ms); err != nil {
				t.Fatal(err)
			}
			ms[0]["RepoTags"] = claims
			b, _ = json.Marshal(ms)
		case "repositories":
			repos := map[string]map[string]string{}
			var old map[string]map[string]string
			json.Unmarshal(b, &old)
			var id string
			for _, tags := range old {
				for _, v := range tags {
					id = v
				}
			}
			for _, c := range claims {
				i := strings.LastIndex(c, ":")
				repos[c[:i]] = map[string]string{c[i+1:]: id}
			}
			b, _ = json.Marshal(repos)
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "hostile.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImageTarCannotPoisonTags: a tarball whose RepoTags claim a name the
// engine already has (victim) or a name an operator may pull later (absent)
// leaves both untouched; the job runs the tarball's image by ID.
func TestImageTarCannotPoisonTags(t *testing.T) {
	x := newExecutor(t)
	ctx := context.Background()
	victim := "shoal-test/victim-" + randomHex(4) + ":1"
	absent := "shoal-test/absent-" + randomHex(4) + ":3.20"
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: victim}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.ImageRemove(context.Background(), victim, client.ImageRemoveOptions{}) })
	victimID := imageIDOf(t, victim)

	// The attacker's image: another program, saved under the victim's names.
	bin := testprog.Build(t, testprog.DetProg, "linux", runtime.GOARCH)
	hostile, err := testimage.Build(ctx, cli, "hostile", bin)
	if err != nil {
		t.Fatal(err)
	}
	hostileID := imageIDOf(t, hostile)
	tarPath := hostileTar(t, hostile, victim, absent)
	testimage.Remove(ctx, cli, hostile)
	t.Cleanup(func() {
		untagLoaded(hostileID)
		cli.ImageRemove(context.Background(), hostileID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	if hostileID == "" || hostileID == victimID {
		t.Fatalf("hostile image %q, victim %q: want two images", hostileID, victimID)
	}

	for _, c := range []struct {
		name   string
		spec   exec.DockerSpec
		args   []string
		stdout string // a prefix
	}{
		{"tar only", exec.DockerSpec{ImageTar: tarPath}, nil, "time "},
		{"absent name from the tar", exec.DockerSpec{Image: absent, ImageTar: tarPath}, nil, "time "},
		{"present name wins over the tar", exec.DockerSpec{Image: victim, ImageTar: tarPath}, []string{"hello"}, "hello from shoal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := x.Run(ctx, &exec.Task{ID: "poison-" + randomHex(4), Docker: &c.spec, Args: c.args})
			if err != nil || res.ExitCode != 0 || !strings.HasPrefix(string(res.Stdout), c.stdout) {
				t.Fatalf("Run = %+v, %v; want stdout %q...", res, err, c.stdout)
			}
			if got := imageIDOf(t, victim); got != victimID {
				t.Errorf("%s now names %s, want the operator's %s", victim, got, victimID)
			}
			if got := imageIDOf(t, absent); got != "" {
				t.Errorf("%s was created by the load (%s)", absent, got)
			}
		})
	}
}

// TestImageTarWithoutManifestRefused: a tarball the engine would load by
// its legacy "repositories" file (which names images) is refused.
func TestImageTarWithoutManifestRefused(t *testing.T) {
	x := newExecutor(t)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	data := []byte(`{"shoal-test/legacy":{"1":"0123"}}`)
	tw.WriteHeader(&tar.Header{Name: "repositories", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	p := filepath.Join(t.TempDir(), "legacy.tar")
	os.WriteFile(p, b.Bytes(), 0o644)
	_, err := x.Run(context.Background(), &exec.Task{ID: "legacy", Docker: &exec.DockerSpec{ImageTar: p}})
	if !errors.Is(err, docker.ErrBadImageTar) || !errors.Is(err, exec.ErrImageNotFound) {
		t.Fatalf("Run error = %v, want ErrBadImageTar and ErrImageNotFound", err)
	}
}

// untagLoaded removes the names the executor gave to image id when loading
// it from a tarball (in docker.LoadNamespace), so test runs leave none.
func untagLoaded(id string) {
	ctx := context.Background()
	list, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", docker.LoadNamespace+"/*")})
	if err != nil {
		return
	}
	for _, im := range list.Items {
		if im.ID != id {
			continue
		}
		for _, tag := range im.RepoTags {
			cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{})
		}
	}
}
