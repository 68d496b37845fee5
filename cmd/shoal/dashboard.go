package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func dashboardCmd() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "print the URL of the daemon's web dashboard, with its API token in the fragment",
		Description: "Open the URL in a browser on this machine. The token is in the URL's fragment (after #), which\n" +
			"   the browser never sends to a server; the page moves it to the tab's session storage and out of\n" +
			"   the address bar. Treat the URL like the token itself (docs/security.md).\n\n" +
			"Example:\n   xdg-open \"$(shoal dashboard)\"",
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return err
			}
			fmt.Printf("%s/#token=%s\n", cl.Base(), cl.Token())
			return nil
		},
	}
}
