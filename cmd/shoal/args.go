package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves flags that follow positional arguments in front of
// them, so that `shoal get CID -o out` works like `shoal get -o out CID`
// (urfave/cli v2 stops parsing flags at the first positional argument).
// Everything after "--" is left alone.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags, then the command path.
	flags := app.Flags
	cmds := app.Commands
	for len(rest) > 0 {
		a := rest[0]
		if strings.HasPrefix(a, "-") {
			out = append(out, a)
			rest = rest[1:]
			if takesValue(flags, a) && len(rest) > 0 {
				out = append(out, rest[0])
				rest = rest[1:]
			}
			continue
		}
		cmd := findCmd(cmds, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		rest = rest[1:]
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	dashdash := false
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			dashdash = true
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				fl = append(fl, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out = append(out, fl...)
	if dashdash {
		// Flags first, then "--": everything after it is positional.
		out = append(out, "--")
	}
	return append(out, pos...)
}

func findCmd(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// takesValue reports whether flag token a (like "-o" or "--output") names a
// flag that takes a separate value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, ok := f.(*cli.BoolFlag); ok {
				return false
			}
			return true
		}
	}
	return false
}
