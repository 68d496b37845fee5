package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/boxo/files"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/node/api"
)

func contentCmds() []*cli.Command {
	return []*cli.Command{addCmd(), catCmd(), getCmd(), lsCmd(), statCmd(), pinCmd(), gcCmd(), dirCmd()}
}

// interactive reports whether progress bars may be drawn (stderr is a
// terminal).
func interactive() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

func newBar(total int64, desc string) *progressbar.ProgressBar {
	if !interactive() {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}

func addCmd() *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "import files or directories as UnixFS, pin them and provide them to the network",
		ArgsUsage: "PATH... (or - for stdin)",
		Description: `Imports each PATH and prints its CID. For the same bytes and options the CID
equals what kubo's ` + "`ipfs add`" + ` prints; the defaults equal ` + "`ipfs add --cid-version=1`" + `
(CIDv1, raw leaves, 256 KiB chunks, 174 links per node). Symlinks are stored as
UnixFS symlinks, not followed; hidden files are skipped unless --hidden.

Example:
   shoal add -r ./dataset
   shoal add --cid-version 0 file.bin     # the CID kubo prints with its defaults
   echo hello | shoal add -q -
   shoal add --car dag.car                 # a CAR from ` + "`ipfs dag export`" + ``,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "add directories recursively"},
			&cli.BoolFlag{Name: "pin", Value: true, Usage: "pin what is added (and provide it); --pin=false leaves it collectable"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the CIDs"},
			&cli.BoolFlag{Name: "hidden", Usage: "include hidden files (names starting with .)"},
			&cli.IntFlag{Name: "cid-version", Value: 1, Usage: "CID version: 0 (kubo's default) or 1"},
			&cli.StringFlag{Name: "raw-leaves", Usage: "store file data in raw blocks: true or false (default: true for CIDv1, false for CIDv0, as kubo)"},
			&cli.StringFlag{Name: "chunker", Value: content.DefaultChunker, Usage: "chunking algorithm, size-N (kubo's --chunker)"},
			&cli.IntFlag{Name: "max-links", Value: content.DefaultMaxLinks, Usage: "links per file node (kubo's --max-file-links)"},
			&cli.StringFlag{Name: "car", Usage: "import the blocks of a CAR (v1 or v2, - for stdin) as they are, like kubo's `ipfs dag import`, and print its roots"},
		},
		Action: func(c *cli.Context) error {
			if file := c.String("car"); file != "" {
				if c.NArg() > 0 {
					return fmt.Errorf("add --car FILE takes no PATH (got %d)", c.NArg())
				}
				cl, err := client(c)
				if err != nil {
					return err
				}
				return importCAR(c.Context, cl, file, c.Bool("pin"), c.Bool("quiet"))
			}
			paths := c.Args().Slice()
			if len(paths) == 0 {
				return fmt.Errorf("add needs a PATH (or - for stdin); see `shoal add --help`")
			}
			p := api.AddParams{Chunker: c.String("chunker"), MaxLinks: c.Int("max-links"), Pin: c.Bool("pin")}
			v := c.Int("cid-version")
			p.CIDVersion = &v
			if s := c.String("raw-leaves"); s != "" {
				b := s == "true"
				if s != "true" && s != "false" {
					return fmt.Errorf("invalid --raw-leaves %q: use true or false", s)
				}
				p.RawLeaves = &b
			}
			if _, err := content.ParseChunker(p.Chunker); err != nil {
				return err
			}
			var entries []files.DirEntry
			var total int64
			for _, path := range paths {
				if path == "-" {
					entries = append(entries, files.FileEntry("stdin", files.NewReaderFile(os.Stdin)))
					continue
				}
				st, err := os.Lstat(path)
				if err != nil {
					return fmt.Errorf("cannot add %s: %w", path, err)
				}
				if st.IsDir() && !c.Bool("recursive") {
					return fmt.Errorf("%s is a directory: use -r to add it recursively", path)
				}
				nd, err := content.OpenPath(path, c.Bool("hidden"))
				if err != nil {
					return err
				}
				if sz, err := nd.Size(); err == nil {
					total += sz
				}
				entries = append(entries, files.FileEntry(filepath.Base(filepath.Clean(path)), nd))
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if !c.Bool("quiet") {
				bar = newBar(total, "adding")
			}
			added, err := cl.Add(c.Context, files.NewSliceDirectory(entries), p, func(b int64) {
				if bar != nil {
					_ = bar.Set64(b)
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			for _, a := range added {
				if c.Bool("quiet") {
					fmt.Println(a.CID)
				} else {
					fmt.Printf("added %s %s\n", a.CID, a.Name)
				}
			}
			return nil
		},
	}
}

func oneCID(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s takes one CID (got %d arguments); see `shoal %s --help`", c.Command.Name, c.NArg(), c.Command.Name)
	}
	if _, err := content.ParseCID(c.Args().First()); err != nil {
		return "", err
	}
	return c.Args().First(), nil
}

// clientAndCID checks the command's one CID argument and returns a client
// for the daemon.
func clientAndCID(c *cli.Context) (*api.Client, string, error) {
	id, err := oneCID(c)
	if err != nil {
		return nil, "", err
	}
	cl, err := client(c)
	return cl, id, err
}

func catCmd() *cli.Command {
	return &cli.Command{
		Name:        "cat",
		Usage:       "write the bytes of a UnixFS file to stdout (fetching it if needed)",
		ArgsUsage:   "CID",
		Description: "Example:\n   shoal cat bafkreih... > file",
		Action: func(c *cli.Context) error {
			cl, id, err := clientAndCID(c)
			if err != nil {
				return err
			}
			rc, err := cl.Cat(c.Context, id)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(os.Stdout, rc)
			return err
		},
	}
}

func getCmd() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "fetch a file or directory by CID and write it to disk",
		ArgsUsage: "CID",
		Description: `Fetches the whole DAG into the daemon (from the providers the DHT lists, with a
progress bar on a terminal), then writes it to -o PATH (default: ./CID). An
existing non-empty PATH is refused unless --force.

With --car FILE it writes the DAG as a CARv1 instead (kubo: ` + "`ipfs dag import FILE`" + `).

Example:
   shoal get bafybei... -o ./results
   shoal get bafybei... --car results.car`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write (default ./CID)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing non-empty path"},
			&cli.StringFlag{Name: "car", Usage: carFlagUsage},
		},
		Action: func(c *cli.Context) error {
			id, err := oneCID(c)
			if err != nil {
				return err
			}
			dest := c.String("output")
			if dest == "" {
				dest = id
			}
			car := c.String("car")
			if car == "" {
				if err := checkDest(dest, c.Bool("force")); err != nil {
					return err
				}
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			_, err = cl.Fetch(c.Context, id, func(e api.FetchEvent) {
				if bar == nil && e.Total > 0 {
					bar = newBar(e.Total, "fetching")
				}
				if bar != nil {
					_ = bar.Set64(e.Bytes)
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			if car != "" {
				if err := exportCAR(c.Context, cl, id, car, c.Bool("force")); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "saved %s as CAR to %s\n", id, car)
				return nil
			}
			rc, err := cl.GetTar(c.Context, id, topName)
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := extractTar(rc, dest, c.Bool("force")); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "saved %s to %s\n", id, dest)
			return nil
		},
	}
}

func lsCmd() *cli.Command {
	return &cli.Command{
		Name:        "ls",
		Usage:       "list the entries of a UnixFS directory",
		ArgsUsage:   "CID",
		Description: "Example:\n   shoal ls bafybei... --json",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, id, err := clientAndCID(c)
			if err != nil {
				return err
			}
			entries, err := cl.Ls(c.Context, id)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(entries)
			}
			w := table()
			fmt.Fprintln(w, "CID\tTYPE\tSIZE\tNAME")
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", e.CID, e.Type, e.Size, e.Name)
			}
			return w.Flush()
		},
	}
}

func statCmd() *cli.Command {
	return &cli.Command{
		Name:        "stat",
		Usage:       "show the size and block count of a DAG and whether it is all local",
		ArgsUsage:   "CID",
		Description: "Example:\n   shoal stat bafybei... --json",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, id, err := clientAndCID(c)
			if err != nil {
				return err
			}
			st, err := cl.Stat(c.Context, id)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(st)
			}
			fmt.Printf("CID:             %s\nType:            %s\nSize:            %d\nCumulativeSize:  %d\nBlocks (local):  %d\nLocal bytes:     %d\nLocal:           %v\n",
				st.CID, st.Type, st.Size, st.CumulativeSize, st.Blocks, st.LocalBytes, st.Local)
			return nil
		},
	}
}

func pinCmd() *cli.Command {
	return &cli.Command{
		Name:  "pin",
		Usage: "keep content from garbage collection",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "pin a CID (fetching it first if it is not local)", ArgsUsage: "CID",
				Description: "Example:\n   shoal pin add bafybei...",
				Flags:       []cli.Flag{&cli.BoolFlag{Name: "recursive", Value: true, Usage: "pin the whole DAG (false: only the root block)"}},
				Action: func(c *cli.Context) error {
					cl, id, err := clientAndCID(c)
					if err != nil {
						return err
					}
					if err := cl.PinAdd(c.Context, id, c.Bool("recursive")); err != nil {
						return err
					}
					fmt.Printf("pinned %s\n", id)
					return nil
				},
			},
			{
				Name: "rm", Usage: "remove a pin (the blocks become collectable)", ArgsUsage: "CID",
				Description: "Example:\n   shoal pin rm bafybei... && shoal gc",
				Action: func(c *cli.Context) error {
					cl, id, err := clientAndCID(c)
					if err != nil {
						return err
					}
					if err := cl.PinRm(c.Context, id); err != nil {
						return err
					}
					fmt.Printf("unpinned %s\n", id)
					return nil
				},
			},
			{
				Name: "ls", Usage: "list pins", Flags: []cli.Flag{jsonFlag},
				Description: "Example:\n   shoal pin ls --json",
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					pins, err := cl.PinLs(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(pins)
					}
					for _, p := range pins {
						fmt.Printf("%s %s\n", p.CID, p.Type)
					}
					return nil
				},
			},
		},
	}
}

func gcCmd() *cli.Command {
	return &cli.Command{
		Name:        "gc",
		Usage:       "remove blocks that no pin keeps",
		Description: "Pinned content is never removed.\nExample:\n   shoal gc",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return err
			}
			res, err := cl.GC(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(res)
			}
			fmt.Printf("removed %d blocks\n", res.Removed)
			return nil
		},
	}
}
