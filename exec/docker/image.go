package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
)

// ensureImage returns the ID (sha256:...) of the image to run. spec.Image,
// when present on the engine, is resolved to its ID: the operator's image
// of that name. Otherwise spec.ImageTar is loaded with its names replaced
// (see [retagTar]), and the image it holds is run by ID: with spec.Image,
// the one that tarball calls so (the name is only looked up in the
// tarball, never given to the engine); without it, the first.
func (e *Executor) ensureImage(ctx context.Context, spec *exec.DockerSpec) (string, error) {
	if spec.Image != "" {
		id, err := e.imageID(ctx, spec.Image)
		if err != nil || id != "" {
			return id, err
		}
		if spec.ImageTar == "" {
			return "", fmt.Errorf("%w: %q is not present on this engine and no ImageTar was given to load it (no registry is used)", exec.ErrImageNotFound, spec.Image)
		}
	}
	e.loadMu.Lock() // also keeps a concurrent load from moving a tag before it is resolved
	defer e.loadMu.Unlock()
	images, err := e.loadImage(ctx, spec.ImageTar)
	if err != nil {
		return "", err
	}
	img := images[0]
	if spec.Image != "" {
		i := slices.IndexFunc(images, func(m tarImage) bool {
			return slices.ContainsFunc(m.RepoTags, func(t string) bool { return sameImageName(t, spec.Image) })
		})
		if i < 0 {
			var names []string
			for _, m := range images {
				names = append(names, m.RepoTags...)
			}
			return "", fmt.Errorf("%w: %q is not in %s, which holds %v", exec.ErrImageNotFound, spec.Image, spec.ImageTar, names)
		}
		img = images[i]
	}
	id, err := e.imageID(ctx, img.Tag)
	if err == nil && id == "" {
		err = fmt.Errorf("%w: %s loaded, but its image %s is not on the engine", exec.ErrImageNotFound, spec.ImageTar, img.Tag)
	}
	return id, err
}

// imageID returns the ID of the image ref, or "" when the engine has none.
func (e *Executor) imageID(ctx context.Context, ref string) (string, error) {
	insp, err := e.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return insp.ID, nil
	case cerrdefs.IsNotFound(err):
		return "", nil
	default:
		return "", engineErr("inspect image "+ref, err)
	}
}

// loadImage loads a `docker save` tarball with its names replaced (see
// [retagTar]), streaming it to the engine, and returns its images.
func (e *Executor) loadImage(ctx context.Context, tarPath string) ([]tarImage, error) {
	f, err := os.OpenFile(tarPath, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: image tarball %s: %w", exec.ErrInvalidTask, tarPath, ErrSymlink)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: image tarball: %w", exec.ErrImageNotFound, err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	var images []tarImage
	done := make(chan error, 1)
	go func() {
		var err error
		images, err = retagTar(pw, f)
		pw.CloseWithError(err)
		done <- err
	}()
	// The transport closes pr when the request ends, which unblocks the
	// writer if the engine stopped reading early.
	resp, err := e.cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	var (
		refs    []string
		loadErr error
	)
	if err == nil {
		refs, loadErr = parseLoad(resp)
		resp.Close()
	}
	pr.CloseWithError(errors.New("load ended"))
	if tarErr := <-done; tarErr != nil {
		return nil, fmt.Errorf("%w: %s: %w", exec.ErrImageNotFound, tarPath, tarErr)
	}
	if err != nil {
		return nil, engineErr("load image "+tarPath, err)
	}
	if loadErr != nil {
		return nil, fmt.Errorf("%w: load %s: %w", exec.ErrImageNotFound, tarPath, loadErr)
	}
	e.log.Info("loaded image", "tar", tarPath, "images", refs)
	return images, nil
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
