// Package testimage builds throwaway Docker images for the exec tests
// through the Engine API (no registry, no docker CLI): FROM scratch with one
// static binary as the entrypoint.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

const dockerfile = "FROM scratch\nCOPY prog /prog\nENTRYPOINT [\"/prog\"]\n"

// Build builds an image holding binary as /prog, its entrypoint, and
// returns its tag: shoal-test/<name>:<random>, unique per call so that test
// binaries running at once never share (or remove) each other's image.
func Build(ctx context.Context, cli *client.Client, name, binary string) (string, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"prog", 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tag := fmt.Sprintf("shoal-test/%s:%s", name, hex.EncodeToString(rnd[:]))
	resp, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Labels:      map[string]string{"shoal.test": "true"},
	})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := readStream(resp.Body); err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	return tag, nil
}

// Remove removes the image tag (and the image when no other tag holds it).
func Remove(ctx context.Context, cli *client.Client, tag string) error {
	_, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	return err
}

// readStream reads a JSON message stream to its end and returns the first
// error it reports.
func readStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
