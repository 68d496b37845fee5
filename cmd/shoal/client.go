package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}

// client returns an API client for the daemon of --repo, or of --api.
func client(c *cli.Context) (*api.Client, error) {
	tok, err := apiToken(c)
	if err != nil {
		return nil, err
	}
	repo := c.String("repo")
	if a := c.String("api"); a != "" {
		if tok != "" {
			return api.NewClient(a, tok)
		}
		// The repo's token goes only to the repo's own daemon.
		if ra, err := api.RepoAPIAddr(repo); err == nil && api.SameAPI(a, ra) {
			return api.ClientForRepo(repo, "")
		}
		return nil, fmt.Errorf("no API token for the daemon at %s: set $%s or --api-token-file FILE (the token of repo %s is only sent to that repo's own daemon)", a, envAPIToken, repo)
	}
	return api.ClientForRepo(repo, tok)
}

// envAPIToken names the variable that gives the CLI an API token.
const envAPIToken = "SHOAL_API_TOKEN"

// apiToken is the token given to the CLI: --api-token-file, $SHOAL_API_TOKEN
// or the deprecated --api-token, in that order; "" means the repo's own
// ($REPO/api.token).
func apiToken(c *cli.Context) (string, error) {
	if f := c.String("api-token-file"); f != "" {
		t, err := node.ReadAPITokenFile(f)
		if err != nil {
			return "", fmt.Errorf("--api-token-file: %w", err)
		}
		return t, nil
	}
	if t := strings.TrimSpace(os.Getenv(envAPIToken)); t != "" {
		return t, nil
	}
	if t := c.String("api-token"); t != "" {
		fmt.Fprintf(os.Stderr, "Warning: --api-token is deprecated: every local user sees it in `ps`; use $%s or --api-token-file FILE\n", envAPIToken)
		return t, nil
	}
	return "", nil
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
