package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node/api"
)

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}

// client returns an API client for the daemon of --repo, or of --api.
func client(c *cli.Context) (*api.Client, error) {
	if a := c.String("api"); a != "" {
		return api.NewClient(a, c.String("api-token"))
	}
	return api.ClientForRepo(c.String("repo"), c.String("api-token"))
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table() *tabwriter.Writer {
	return tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
