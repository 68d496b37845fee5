package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/shoalnet/shoal/node/api"
)

// carFlagUsage is the --car flag of get and job get.
const carFlagUsage = "write the DAG as a CARv1 to FILE (- for stdout) instead of as files; kubo reads it with `ipfs dag import`"

// exportCAR writes the DAG id, which the daemon holds whole, as a CARv1 to
// file: into a temporary sibling first, renamed into place once complete,
// so an interrupted export never leaves a short CAR under the final name.
// "-" writes to stdout.
func exportCAR(ctx context.Context, cl *api.Client, id, file string, force bool) error {
	rc, err := cl.ExportCAR(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if file == "-" {
		_, err := io.Copy(os.Stdout, rc)
		return err
	}
	if _, err := os.Lstat(file); err == nil && !force {
		return fmt.Errorf("%s already exists: choose another file, or pass --force to replace it", file)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".shoal-car-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return fmt.Errorf("export CAR of %s: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// importCAR sends the CAR file (- for stdin) to the daemon and prints its
// roots.
func importCAR(ctx context.Context, cl *api.Client, file string, pin, quiet bool) error {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("cannot import %s: %w", file, err)
		}
		defer f.Close()
		r = f
	}
	roots, err := cl.ImportCAR(ctx, r, pin)
	if err != nil {
		return err
	}
	for _, c := range roots {
		if quiet {
			fmt.Println(c)
		} else {
			fmt.Printf("imported %s %s\n", c, file)
		}
	}
	return nil
}
