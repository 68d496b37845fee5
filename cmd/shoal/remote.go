package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/content/fetchurl"
	"github.com/shoalnet/shoal/content/s3io"
	"github.com/shoalnet/shoal/node/api"
)

// Remote inputs and publish targets on the command line:
//
//	--input https://host/data.csv:/inputs/data.csv
//	--input s3://bucket/prefix/:/inputs    (a prefix ends in /; else a key)
//	--publish s3://bucket/prefix  --publish ipfs+http://127.0.0.1:5001
//	--import requester   (download url/s3 inputs here and submit their CIDs)

func remoteFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "publish", Usage: "also put the outputs at s3://bucket/prefix or ipfs+http://host:5001 (a kubo RPC API) (repeatable)"},
		&cli.BoolFlag{Name: "publish-required", Usage: "fail the job when a --publish target fails (default: only recorded in the receipt)"},
		&cli.StringFlag{Name: "import", Value: jobspec.ImportExecutor, Usage: "who downloads url and s3 inputs: executor, or requester (this command, before submission; the spec then holds their CIDs)"},
	}
}

// remoteInput reads a --input SRC that is a URL or an S3 location.
func remoteInput(src, target string) (jobspec.Input, bool, error) {
	switch {
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return jobspec.Input{URL: src, Path: target}, true, nil
	case strings.HasPrefix(src, "s3://"):
		o, err := jobspec.ParseS3URL(src)
		if err != nil {
			return jobspec.Input{}, true, fmt.Errorf("invalid --input %q: %w", src, err)
		}
		return jobspec.Input{S3: o, Path: target}, true, nil
	case strings.Contains(src, "://"):
		// Another scheme: the spec's validation names what is supported.
		return jobspec.Input{URL: src, Path: target}, true, nil
	case src == "http" || src == "https" || src == "s3":
		return jobspec.Input{}, true, fmt.Errorf("invalid --input: %s URL without a target; want %s://...:/path", src, src)
	}
	return jobspec.Input{}, false, nil
}

// addPublish adds the --publish targets to spec.
func addPublish(c *cli.Context, spec *jobspec.Spec) error {
	for _, p := range c.StringSlice("publish") {
		t, err := jobspec.ParsePublishTarget(p)
		if err != nil {
			return fmt.Errorf("invalid --publish: %w", err)
		}
		t.Required = c.Bool("publish-required")
		spec.Publish = append(spec.Publish, t)
	}
	switch c.String("import") {
	case jobspec.ImportExecutor, jobspec.ImportRequester:
	default:
		return fmt.Errorf("invalid --import %q: executor or requester", c.String("import"))
	}
	return nil
}

// importHere downloads a remote input on this machine and adds it to the
// daemon (`import: requester`). It is the user's own download, from the
// user's machine: private addresses are allowed, and S3 credentials come
// from this environment.
func importHere(c *cli.Context, cl *api.Client, in jobspec.Input) (cid.Cid, error) {
	tmp, err := os.MkdirTemp("", "shoal-import-")
	if err != nil {
		return cid.Undef, err
	}
	defer os.RemoveAll(tmp)
	name := "data"
	switch {
	case in.URL != "":
		if b := filepath.Base(strings.SplitN(in.URL, "?", 2)[0]); b != "" && b != "/" && b != "." {
			name = b
		}
		dst := filepath.Join(tmp, name)
		f, err := os.Create(dst)
		if err != nil {
			return cid.Undef, err
		}
		_, err = fetchurl.New(fetchurl.Policy{AllowPrivate: true}).Get(c.Context, in.URL, f, fetchurl.Validators{})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return cid.Undef, err
		}
	case in.S3 != nil:
		o := in.S3
		dst := filepath.Join(tmp, name)
		if _, err := s3io.New(s3io.Config{Endpoint: o.Endpoint, Region: o.Region, AllowPrivate: true}).Download(c.Context,
			s3io.Object{Bucket: o.Bucket, Key: o.Key, Prefix: o.Prefix, Endpoint: o.Endpoint, Region: o.Region}, dst, 0, ""); err != nil {
			return cid.Undef, err
		}
	}
	s, err := cidOrAdd(c, cl, filepath.Join(tmp, name))
	if err != nil {
		return cid.Undef, err
	}
	return cid.Decode(s)
}
