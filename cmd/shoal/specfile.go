package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/node/api"
)

// A spec file may name local files where CIDs are wanted (module: ./x.wasm,
// image_cid: ./img.tar, inputs: [{src: ./corpus, path: /inputs}]; see
// docs/jobspec.md), relative to the spec file's directory. loadSpecFile
// reads such a file in two passes: the first validates every field,
// standing a placeholder CID in for each local path and checking that the
// path exists, so a spec with an error adds nothing; the second puts in the
// CIDs that resolve gives (added to the daemon by `job run`, hashed by
// `job validate`).

// localFile is a local path a spec names, resolved.
type localFile struct {
	jobspec.LocalRef
	// Abs is the path the spec means: Path joined to the spec's directory
	// unless absolute, with symlinks resolved.
	Abs string
	CID cid.Cid
}

// specFile is a spec file read by loadSpecFile.
type specFile struct {
	Spec *jobspec.Spec
	// Doc is the document as read.
	Doc []byte
	// Local lists the local paths it names, in document order.
	Local []localFile
	// Remote counts the inputs imported by the requester.
	Remote int
}

// loadSpecFile reads and validates the spec at file; resolve gives the CID
// of each distinct local path it names (called only once every field is
// valid, at most once per path).
//
// Inputs marked `import: requester` are downloaded by importRemote (after
// every field is valid) and their CIDs replace them; with importRemote nil
// (job validate) a placeholder stands in.
func loadSpecFile(file string, resolve func(f localFile) (cid.Cid, error), importRemote func(jobspec.RemoteRef) (cid.Cid, error)) (*specFile, error) {
	doc, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var local []localFile
	remote := 0
	placeholderImport := func(r jobspec.RemoteRef) (cid.Cid, error) {
		remote++
		return placeholderCID("remote\x00" + r.Input.Source())
	}
	_, err = jobspec.ParseWith(doc, file, jobspec.ParseOptions{Local: func(r jobspec.LocalRef) (cid.Cid, error) {
		f, err := checkLocal(file, r)
		if err != nil {
			return cid.Undef, err
		}
		local = append(local, f)
		return placeholderCID(f.Abs)
	}, Import: placeholderImport})
	if err != nil {
		return nil, err
	}
	sf := &specFile{Doc: doc}
	imp := importRemote
	if imp == nil {
		imp = placeholderImport
	}
	if remote > 0 {
		cached := map[string]cid.Cid{}
		inner := imp
		imp = func(r jobspec.RemoteRef) (cid.Cid, error) {
			if c, ok := cached[r.Input.Source()]; ok {
				return c, nil
			}
			c, err := inner(r)
			if err == nil {
				cached[r.Input.Source()] = c
			}
			return c, err
		}
	}
	if len(local) == 0 && remote == 0 {
		sf.Spec, err = jobspec.Parse(doc, file)
		return sf, err
	}
	cids := map[string]cid.Cid{}
	for i, f := range local {
		c, ok := cids[f.Abs]
		if !ok {
			if c, err = resolve(f); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %s: %w", file, f.Line, f.Field, f.Path, err)
			}
			cids[f.Abs] = c
		}
		local[i].CID = c
	}
	sf.Local = local
	sf.Remote = remote
	sf.Spec, err = jobspec.ParseWith(doc, file, jobspec.ParseOptions{Import: imp, Local: func(r jobspec.LocalRef) (cid.Cid, error) {
		f, err := checkLocal(file, r)
		if err != nil {
			return cid.Undef, err
		}
		c, ok := cids[f.Abs]
		if !ok { // the file changed between the passes
			return cid.Undef, errors.New("not seen when the spec was first read")
		}
		return c, nil
	}})
	return sf, err
}

// checkLocal resolves r against the spec file's directory and checks that
// it names something that can be added: a file or a directory (a module or
// image tarball must be a file).
func checkLocal(file string, r jobspec.LocalRef) (localFile, error) {
	p := r.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(file), p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return localFile{}, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return localFile{}, fmt.Errorf("no such file or directory (%s; relative paths start at the spec file's directory)", p)
	}
	st, err := os.Stat(real)
	if err != nil {
		return localFile{}, err
	}
	// A workflow's step fields are steps[N].FIELD: the same rule applies.
	field := r.Field
	if rest, ok := strings.CutPrefix(field, "steps["); ok {
		if _, f, ok := strings.Cut(rest, "]."); ok {
			field = f
		}
	}
	switch {
	case st.IsDir() && !strings.HasPrefix(field, "inputs["):
		return localFile{}, fmt.Errorf("%s is a directory; %s names a file", p, r.Field)
	case !st.IsDir() && !st.Mode().IsRegular():
		return localFile{}, fmt.Errorf("%s is neither a file nor a directory", p)
	}
	return localFile{LocalRef: r, Abs: real}, nil
}

// placeholderCID stands in for a local path while the spec's other fields
// are checked; it never leaves this process.
func placeholderCID(abs string) (cid.Cid, error) {
	h, err := mh.Sum([]byte("shoal spec local path\x00"+abs), mh.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, h), nil
}

// runSpecFile is `shoal job run SPEC`: local paths are added to the daemon
// first, exactly as `shoal run --input ./dir` adds them (cidOrAdd), and the
// spec is submitted with their CIDs.
func runSpecFile(c *cli.Context, cl *api.Client, file string) error {
	show := interactive() && !c.Bool("quiet") && !c.Bool("json")
	sf, err := loadSpecFile(file, func(f localFile) (cid.Cid, error) {
		s, err := cidOrAdd(c, cl, f.Abs)
		if err != nil {
			return cid.Undef, err
		}
		if show {
			fmt.Fprintf(os.Stderr, "added %s (%s): %s\n", f.Path, f.Field, s)
		}
		return cid.Decode(s)
	}, func(r jobspec.RemoteRef) (cid.Cid, error) {
		id, err := importHere(c, cl, r.Input)
		if err == nil && show {
			fmt.Fprintf(os.Stderr, "imported %s (%s): %s\n", r.Input.Source(), r.Field, id)
		}
		return id, err
	})
	if err != nil {
		return err
	}
	if len(sf.Local) > 0 || sf.Remote > 0 {
		return submitSpec(c, cl, sf.Spec)
	}
	opts, err := submitOptions(c)
	if err != nil {
		return err
	}
	res, err := cl.SubmitWith(c.Context, sf.Doc, strings.HasSuffix(file, ".json"), opts)
	if err != nil {
		return err
	}
	return follow(c, cl, res)
}

func jobValidateCmd() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a job spec without submitting it, and print the job ID it would have",
		ArgsUsage: "SPEC.yaml",
		Description: `Reads SPEC as ` + "`shoal job run`" + ` does and reports every field error with its line
("spec.yaml:7: inputs[0].path: invalid value: ..."), then prints the job ID
(the CID of the spec block). Needs no daemon and changes nothing.

Local files the spec names where a CID is wanted (module: ./hello.wasm,
image_cid: ./img.tar, inputs: [{src: ./corpus, path: /inputs}], relative to
the spec file) must exist. Their CIDs, and so the job ID, are computed by
hashing them as ` + "`shoal add`" + ` (and so ` + "`shoal job run`" + `) would, without adding
them anywhere; --no-hash skips that (the job ID is then not printed, as it
depends on their content). Exits 1 when the spec is invalid.

Example:
   shoal job validate examples/jobs/wordcount.yaml
   shoal job validate --no-hash big-input.yaml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-hash", Usage: "do not hash local files: check that they exist, print no job ID"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the job ID"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("job validate takes one SPEC file; see `shoal job validate --help`")
			}
			file := c.Args().First()
			noHash := c.Bool("no-hash")
			sf, err := loadSpecFile(file, func(f localFile) (cid.Cid, error) {
				if noHash {
					return placeholderCID(f.Abs)
				}
				nd, err := content.OpenPath(f.Abs, false)
				if err != nil {
					return cid.Undef, err
				}
				return content.Hash(c.Context, nd, content.AddOptions{})
			}, nil)
			if err != nil {
				return err
			}
			_, id, err := jobspec.Encode(sf.Spec)
			if err != nil {
				return err
			}
			if c.Bool("quiet") {
				if (!noHash || len(sf.Local) == 0) && sf.Remote == 0 {
					fmt.Println(id)
				}
				return nil
			}
			fmt.Printf("%s: valid (%s job, engine %s)\n", file, sf.Spec.Type, sf.Spec.Engine.Kind())
			switch {
			case sf.Remote > 0:
				fmt.Println("job ID:  not computed: it depends on what the inputs with import: requester download")
			case noHash && len(sf.Local) > 0:
				fmt.Println("job ID:  not computed (--no-hash): it depends on the local files' content")
			default:
				fmt.Printf("job ID:  %s\n", id)
			}
			if len(sf.Local) > 0 {
				if noHash {
					fmt.Println("local files (found; `shoal job run` adds them):")
				} else {
					fmt.Println("local files (hashed as `shoal add` would, not added; `shoal job run` adds them):")
				}
				w := table()
				for _, f := range sf.Local {
					id := f.CID.String()
					if noHash {
						id = "-"
					}
					fmt.Fprintf(w, "  %s\t%s\t%s\n", f.Field, f.Path, id)
				}
				return w.Flush()
			}
			return nil
		},
	}
}
