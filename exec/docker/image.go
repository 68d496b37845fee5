package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
)

// ensureImage returns the reference of the image to run: spec.Image when
// present, else what spec.ImageTar loads.
func (e *Executor) ensureImage(ctx context.Context, spec *exec.DockerSpec) (string, error) {
	if spec.Image != "" {
		ok, err := e.imageExists(ctx, spec.Image)
		if err != nil || ok {
			return spec.Image, err
		}
		if spec.ImageTar == "" {
			return "", fmt.Errorf("%w: %q is not present on this engine and no ImageTar was given to load it (no registry is used)", exec.ErrImageNotFound, spec.Image)
		}
	}
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if spec.Image != "" { // loaded by a concurrent run meanwhile?
		if ok, err := e.imageExists(ctx, spec.Image); err != nil || ok {
			return spec.Image, err
		}
	}
	loaded, err := e.loadImage(ctx, spec.ImageTar)
	if err != nil {
		return "", err
	}
	if spec.Image == "" {
		if len(loaded) == 0 {
			return "", fmt.Errorf("%w: loading %s reported no image", exec.ErrImageNotFound, spec.ImageTar)
		}
		return loaded[0], nil
	}
	if ok, err := e.imageExists(ctx, spec.Image); err != nil || !ok {
		return "", errors.Join(err, fmt.Errorf("%w: %q is not in %s, which holds %v", exec.ErrImageNotFound, spec.Image, spec.ImageTar, loaded))
	}
	return spec.Image, nil
}

func (e *Executor) imageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, engineErr("inspect image "+ref, err)
	}
}

// loadImage loads a `docker save` tarball and returns the references it
// reports ("name:tag", or "sha256:..." for untagged images).
func (e *Executor) loadImage(ctx context.Context, tarPath string) ([]string, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, fmt.Errorf("%w: image tarball: %w", exec.ErrImageNotFound, err)
	}
	defer f.Close()
	resp, err := e.cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, engineErr("load image "+tarPath, err)
	}
	defer resp.Close()
	refs, err := parseLoad(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: load %s: %w", exec.ErrImageNotFound, tarPath, err)
	}
	e.log.Info("loaded image", "tar", tarPath, "images", refs)
	return refs, nil
}

// parseLoad reads the JSON message stream of an image load.
func parseLoad(r io.Reader) ([]string, error) {
	var refs []string
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return refs, nil
		} else if err != nil {
			return refs, err
		}
		if m.Error != "" {
			return refs, errors.New(m.Error)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return refs, errors.New(m.ErrorDetail.Message)
		}
		for line := range strings.Lines(m.Stream) {
			line = strings.TrimSpace(line)
			if ref, ok := strings.CutPrefix(line, "Loaded image: "); ok {
				refs = append(refs, ref)
			} else if ref, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
				refs = append(refs, ref)
			}
		}
	}
}
