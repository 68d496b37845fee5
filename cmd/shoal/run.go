package main

import (
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/node/api"
)

func runFlags() []cli.Flag {
	flags := []cli.Flag{
		noReuseFlag,
		&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "SRC:/path — mount SRC (a local file or directory, added first, a CID, an http(s) URL or s3://bucket/key, s3://bucket/prefix/) read-only at /path (repeatable)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: jobspec.DefaultOutput, Usage: "directory inside the job whose files become the outputs"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "K=V environment variable (repeatable)"},
		secretFlag,
		&cli.StringFlag{Name: "name", Usage: "a name for humans (part of the job ID)"},
		&cli.StringFlag{Name: "type", Value: string(jobspec.Batch), Usage: "batch (run on --count nodes) or ops (run on every node that bids)"},
		&cli.IntFlag{Name: "count", Usage: "how many nodes run a batch job (default 1)"},
		&cli.IntFlag{Name: "verify", Usage: "run on N distinct nodes and accept the result a majority of them agree on (verify: {replicas: N})"},
		&cli.StringFlag{Name: "verify-distinct", Usage: "with --verify: what replicas must not share, peer (default) or org"},
		&cli.StringFlag{Name: "cpu", Usage: "cores (0.5) or millicores (500m); default 1"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (256MiB, 1GiB); default 256MiB"},
		&cli.DurationFlag{Name: "timeout", Usage: "bound on the run (default 10m)"},
		&cli.DurationFlag{Name: "queue-timeout", Usage: "how long to look for an executor (default 5m)"},
		&cli.StringFlag{Name: "locality", Usage: "required, preferred (default) or anywhere"},
		&cli.StringSliceFlag{Name: "label", Usage: "only nodes with label key=value (repeatable)"},
		&cli.StringSliceFlag{Name: "executor-org", Usage: "only members of this organization may run the job (repeatable)"},
		&cli.StringSliceFlag{Name: "executor-peer", Usage: "only this peer ID may run the job (repeatable)"},
		detachFlag, quietFlag, jsonFlag,
	}
	flags = append(flags, partitionFlags()...)
	return append(flags, remoteFlags()...)
}

func runCmd() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a WASM module or a Docker image on the network, where the data is",
		Subcommands: []*cli.Command{
			{
				Name:      "wasm",
				Usage:     "run a WASI module (a local .wasm file, added first, or a CID)",
				ArgsUsage: "MODULE [-- ARGS...]",
				Description: `Builds a job spec, submits it and waits for the result (unless --detach): live
progress on a terminal, then the job's stdout; the outputs CID goes to stderr.
Local files given as MODULE or --input SRC are added to this node first.

Example:
   shoal run wasm examples/wordcount/wordcount.wasm --input ./corpus:/inputs -- /inputs
   shoal run wasm bafkrei... --input bafybei...:/data --locality required`,
				Flags: append(runFlags(), &cli.StringFlag{Name: "entrypoint", Usage: "exported function to call (default _start)"}),
				Action: func(c *cli.Context) error {
					if c.NArg() < 1 {
						return fmt.Errorf("run wasm needs a MODULE; see `shoal run wasm --help`")
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					mod, err := cidOrAdd(c, cl, c.Args().First())
					if err != nil {
						return err
					}
					mc, _ := cid.Decode(mod)
					spec, err := specFromFlags(c, cl)
					if err != nil {
						return err
					}
					env, err := parseEnv(c.StringSlice("env"))
					if err != nil {
						return err
					}
					spec.Engine.Wasm = &jobspec.Wasm{Module: mc, Entrypoint: c.String("entrypoint"), Args: c.Args().Tail(), Env: env}
					return submitSpec(c, cl, spec)
				},
			},
			{
				Name:      "docker",
				Usage:     "run a Docker image (present on executors, or a `docker save` tarball by CID)",
				ArgsUsage: "IMAGE | --image-cid CID [-- ARGS...]",
				Description: `Images travel peer to peer: ` + "`docker save img > img.tar && shoal add img.tar`" + ` gives
a CID to pass as --image-cid; executors fetch and load it, no registry needed.

Example:
   shoal run docker --image-cid bafybei... --input ./data:/data -- /data`,
				Flags: append(runFlags(),
					&cli.StringFlag{Name: "image-cid", Usage: "CID of a `docker save` tarball (a local tarball path is added first)"},
					&cli.StringSliceFlag{Name: "entrypoint", Usage: "replace the image's entrypoint (repeat for each word)"},
				),
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					d := &jobspec.Docker{Entrypoint: c.StringSlice("entrypoint")}
					args := c.Args().Slice()
					switch {
					case c.String("image-cid") != "":
						ic, err := cidOrAdd(c, cl, c.String("image-cid"))
						if err != nil {
							return err
						}
						d.ImageCID, _ = cid.Decode(ic)
					case len(args) > 0:
						d.Image, args = args[0], args[1:]
					default:
						return fmt.Errorf("run docker needs an IMAGE or --image-cid; see `shoal run docker --help`")
					}
					if len(args) > 0 && args[0] == "--" {
						args = args[1:]
					}
					spec, err := specFromFlags(c, cl)
					if err != nil {
						return err
					}
					if d.Env, err = parseEnv(c.StringSlice("env")); err != nil {
						return err
					}
					d.Args = args
					spec.Engine.Docker = d
					return submitSpec(c, cl, spec)
				},
			},
		},
	}
}

// specFromFlags builds the engine-independent part of a spec.
func specFromFlags(c *cli.Context, cl *api.Client) (*jobspec.Spec, error) {
	spec := &jobspec.Spec{Name: c.String("name"), Type: jobspec.Type(c.String("type")), Count: c.Int("count"),
		Timeout: c.Duration("timeout"), QueueTimeout: c.Duration("queue-timeout")}
	if n := c.Int("verify"); n != 0 || c.IsSet("verify") {
		spec.Verify = &jobspec.Verify{Replicas: n, Distinct: jobspec.Distinct(c.String("verify-distinct"))}
	} else if c.IsSet("verify-distinct") {
		return nil, fmt.Errorf("--verify-distinct needs --verify N")
	}
	vals, err := secretValues(c)
	if err != nil {
		return nil, err
	}
	for n := range vals {
		spec.Secrets = append(spec.Secrets, n)
	}
	if o := c.String("output"); o != "" {
		spec.Outputs = []string{o}
	}
	for _, in := range c.StringSlice("input") {
		i := strings.LastIndex(in, ":/")
		if i <= 0 {
			return nil, fmt.Errorf("invalid --input %q: want SRC:/path", in)
		}
		src, target := in[:i], in[i+1:]
		if rin, ok, err := remoteInput(src, target); ok {
			if err != nil {
				return nil, err
			}
			if c.String("import") == jobspec.ImportRequester {
				if rin.CID, err = importHere(c, cl, rin); err != nil {
					return nil, fmt.Errorf("--input %s (--import requester): %w", src, err)
				}
				rin.URL, rin.S3 = "", nil
			}
			spec.Inputs = append(spec.Inputs, rin)
			continue
		}
		id, err := cidOrAdd(c, cl, src)
		if err != nil {
			return nil, err
		}
		ic, _ := cid.Decode(id)
		spec.Inputs = append(spec.Inputs, jobspec.Input{CID: ic, Path: target})
	}
	if v := c.String("cpu"); v != "" {
		m, err := jobspec.ParseCPU(v)
		if err != nil {
			return nil, fmt.Errorf("--cpu: %w", err)
		}
		spec.Resources.MilliCPU = m
	}
	if v := c.String("memory"); v != "" {
		m, err := jobspec.ParseSize(v)
		if err != nil {
			return nil, fmt.Errorf("--memory: %w", err)
		}
		spec.Resources.Memory = m
	}
	if v := c.String("locality"); v != "" {
		spec.Constraints.Locality = jobspec.Locality(v)
	}
	labels, err := parseLabels(c.StringSlice("label"))
	if err != nil {
		return nil, err
	}
	if len(labels) > 0 {
		spec.Constraints.Labels = labels
	}
	spec.Constraints.Executors.Orgs = c.StringSlice("executor-org")
	for _, p := range c.StringSlice("executor-peer") {
		id, err := peer.Decode(p)
		if err != nil {
			return nil, fmt.Errorf("invalid --executor-peer %q: %w", p, err)
		}
		spec.Constraints.Executors.Peers = append(spec.Constraints.Executors.Peers, id)
	}
	if err := addPublish(c, spec); err != nil {
		return nil, err
	}
	if err := partitionFromFlags(c, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func parseEnv(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, e := range in {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --env %q: want K=V", e)
		}
		out[k] = v
	}
	return out, nil
}

func submitSpec(c *cli.Context, cl *api.Client, spec *jobspec.Spec) error {
	if _, _, err := jobspec.Encode(spec); err != nil {
		return err
	}
	doc, err := spec.YAML()
	if err != nil {
		return err
	}
	opts, err := submitOptions(c)
	if err != nil {
		return err
	}
	res, err := cl.SubmitWith(c.Context, doc, false, opts)
	if err != nil {
		return err
	}
	return follow(c, cl, res)
}
