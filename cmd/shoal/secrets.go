package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// secretFlag is --secret of run and job run.
var secretFlag = &cli.StringSliceFlag{Name: "secret", Usage: "NAME=value, or NAME to take the value from this shell's environment: " +
	"an environment variable of the job whose value travels only sealed to the executor, never in the spec, the job ID or any record (repeatable; the spec's secrets: lists the names)"}

// secretValues reads the --secret flags: NAME=value, or NAME whose value
// is the client's environment variable NAME (an error when unset). Errors
// name the secret, never a value.
func secretValues(c *cli.Context) (map[string]string, error) {
	in := c.StringSlice("secret")
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for _, s := range in {
		name, val, ok := strings.Cut(s, "=")
		if name == "" {
			return nil, fmt.Errorf("invalid --secret: want NAME=value or NAME")
		}
		if !ok {
			v, set := os.LookupEnv(name)
			if !set {
				return nil, fmt.Errorf("--secret %s: no value given and $%s is not set in this shell (use --secret %s=value, or export it)", name, name, name)
			}
			val = v
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--secret %s given twice", name)
		}
		out[name] = val
	}
	return out, nil
}
