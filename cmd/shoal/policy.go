package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

func policyCmd() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "the node's admission policy: who may run what here",
		Description: `The policy is the "policy" section of the repo's config (JSON). Every refusal it
makes reaches the requester as a decline with a stable code, shown by
` + "`shoal job describe`" + `. The fields are documented in docs/security.md.

Example:
   shoal policy show
   echo '{"requesters":{"orgs":["acme"]},"engines":["wasm"]}' > p.json
   shoal policy set p.json`,
		Subcommands: []*cli.Command{
			{
				Name: "show", Usage: "print the effective policy (the daemon's, or the repo's when none runs)",
				Description: "Example:\n   shoal policy show --json",
				Flags:       []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					var resp *api.PolicyResponse
					offline := false
					err := withTrust(c, func(cl *api.Client) (err error) {
						resp, err = cl.Policy(c.Context)
						return err
					}, func(s *node.OrgStore) error {
						cfg, err := node.LoadConfig(filepath.Join(s.Repo, node.ConfigFile))
						if err != nil {
							return err
						}
						offline = true
						resp = &api.PolicyResponse{Policy: cfg.Policy, Lines: cfg.Policy.Describe(nil), Deny: cfg.Orgs.Deny}
						for name := range cfg.Orgs.Trusted {
							resp.Trusted = append(resp.Trusted, name)
						}
						return nil
					})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(resp)
					}
					if offline {
						fmt.Println("(no daemon runs: the policy of the repo's config)")
					}
					w := table()
					for _, l := range resp.Lines {
						fmt.Fprintf(w, "%s:\t%s\n", capitalize(l.Key), l.Value)
					}
					trusted := "none"
					if len(resp.Trusted) > 0 {
						trusted = strings.Join(resp.Trusted, ", ")
					}
					fmt.Fprintf(w, "Trusted orgs:\t%s\n", trusted)
					fmt.Fprintf(w, "Deny-list:\t%d entr%s\n", len(resp.Deny), map[bool]string{true: "y", false: "ies"}[len(resp.Deny) == 1])
					return w.Flush()
				},
			},
			{
				Name: "set", Usage: "replace the policy with a JSON document (applied at once by a running daemon)", ArgsUsage: "FILE",
				Description: "FILE is a policy document (- for stdin); {} is the open policy.\n\nExample:\n   shoal policy set policy.json",
				Action: func(c *cli.Context) error {
					p, err := policyArg(c, "set")
					if err != nil {
						return err
					}
					var lines []policy.Line
					err = withTrust(c, func(cl *api.Client) error {
						r, err := cl.SetPolicy(c.Context, p)
						if err == nil {
							lines = r.Lines
						}
						return err
					}, func(s *node.OrgStore) error {
						lines = p.Describe(nil)
						return node.SetRepoPolicy(s.Repo, p)
					})
					if err != nil {
						return err
					}
					fmt.Println("policy set:")
					for _, l := range lines {
						fmt.Printf("  %s: %s\n", l.Key, l.Value)
					}
					return nil
				},
			},
			{
				Name: "check", Usage: "validate a policy document without applying it", ArgsUsage: "FILE",
				Description: "Example:\n   shoal policy check policy.json",
				Action: func(c *cli.Context) error {
					p, err := policyArg(c, "check")
					if err != nil {
						return err
					}
					for _, l := range p.Describe(nil) {
						fmt.Printf("%s: %s\n", l.Key, l.Value)
					}
					return nil
				},
			},
			{
				Name: "peers", Usage: "show how peers fare under the abuse limits (gossip score, dropped announcements, refused streams) and as executors of this node's jobs (reputation)",
				Description: "A peer below a score of -300 is graylisted: its gossip is dropped unread.\n\nExample:\n   shoal policy peers --json",
				Flags:       []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					peers, err := cl.PolicyPeers(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(peers)
					}
					w := table()
					fmt.Fprintln(w, "PEER\tSCORE\tEXCESS\tANNOUNCES DROPPED\tSTREAMS REFUSED\tREPUTATION\tLAST SEEN")
					for _, p := range peers {
						rep, seen := "-", "-"
						if r := p.Reputation; r != nil {
							rep, seen = reputationText(*r), r.LastSeen.Local().Format(time.DateTime)
						}
						fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%d\t%d\t%s\t%s\n", p.Peer, p.Score, p.Excess, p.AnnouncesDropped, p.StreamsRefused, rep, seen)
					}
					return w.Flush()
				},
			},
		},
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func readAllLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	return b, nil
}

// policyArg reads and parses the policy document named by the verb's one
// argument (- for stdin).
func policyArg(c *cli.Context, verb string) (*policy.Policy, error) {
	if c.NArg() != 1 {
		return nil, fmt.Errorf("usage: shoal policy %s FILE", verb)
	}
	data, err := readFileArg(c.Args().First())
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Args().First(), err)
	}
	return p, nil
}
