package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/node/api"
)

func dirCmd() *cli.Command {
	return &cli.Command{
		Name:  "dir",
		Usage: "build and edit UnixFS directories from CIDs held anywhere, without fetching them",
		Description: "A dataset spread over many nodes becomes one CID: the daemon reads only each entry's\n" +
			"root block (for its size) and stores the directory's own blocks, pinned directly. The\n" +
			"CIDs equal kubo's for the same entries (ipfs add -r, MFS, object patch).",
		Subcommands: []*cli.Command{
			{
				Name: "make", Usage: "print the CID of a directory of the given entries", ArgsUsage: "NAME=CID [NAME=CID]... | -",
				Description: "With - the entries are read from stdin, one NAME=CID per line.\n\n" +
					"Example:\n   shoal dir make part-0=bafkrei... part-1=bafybei...",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the CID"}},
				Action: func(c *cli.Context) error {
					args := c.Args().Slice()
					if len(args) == 1 && args[0] == "-" {
						var err error
						if args, err = readLines(os.Stdin); err != nil {
							return err
						}
					}
					if len(args) == 0 {
						return fmt.Errorf("dir make needs at least one NAME=CID; see `shoal dir make --help`")
					}
					links := make([]api.DirLink, 0, len(args))
					for _, a := range args {
						name, id, ok := strings.Cut(a, "=")
						if !ok || name == "" {
							return fmt.Errorf("entry %q: want NAME=CID", a)
						}
						if _, err := content.ParseCID(id); err != nil {
							return fmt.Errorf("entry %q: %w", name, err)
						}
						links = append(links, api.DirLink{Name: name, CID: id})
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					dir, err := cl.DirMake(c.Context, links)
					if err != nil {
						return err
					}
					return printDir(c, dir, fmt.Sprintf("made a directory of %d entries", len(links)))
				},
			},
			{
				Name: "add-link", Usage: "print the CID of DIR with the entry NAME → CID added", ArgsUsage: "DIR NAME CID",
				Description: "Example:\n   shoal dir add-link bafybei...dataset part-2 bafkrei...",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "replace", Usage: "replace an entry of that name (else it is an error)"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the CID"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 3 {
						return fmt.Errorf("dir add-link takes DIR NAME CID (got %d arguments)", c.NArg())
					}
					dir, name, id := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
					for _, x := range []string{dir, id} {
						if _, err := content.ParseCID(x); err != nil {
							return err
						}
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					out, err := cl.DirAddLink(c.Context, dir, name, id, c.Bool("replace"))
					if err != nil {
						return err
					}
					return printDir(c, out, "added "+name)
				},
			},
			{
				Name: "rm-link", Usage: "print the CID of DIR without the entry NAME", ArgsUsage: "DIR NAME",
				Description: "Example:\n   shoal dir rm-link bafybei...dataset part-2",
				Flags:       []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the CID"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("dir rm-link takes DIR NAME (got %d arguments)", c.NArg())
					}
					dir, name := c.Args().Get(0), c.Args().Get(1)
					if _, err := content.ParseCID(dir); err != nil {
						return err
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					out, err := cl.DirRmLink(c.Context, dir, name)
					if err != nil {
						return err
					}
					return printDir(c, out, "removed "+name)
				},
			},
		},
	}
}

func printDir(c *cli.Context, dir, what string) error {
	if c.Bool("quiet") {
		fmt.Println(dir)
		return nil
	}
	fmt.Printf("%s: %s\n", what, dir)
	return nil
}

// readLines returns the non-empty lines of r, trimmed.
func readLines(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
