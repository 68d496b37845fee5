package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/p2p"
)

func initCmd() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a repo: identity key, config and datastore",
		Description: `Creates the repo directory (--repo, $SHOAL_PATH, default ~/.shoal) with a new
Ed25519 identity, a config file and a datastore. Refuses to touch an existing repo.

Profiles:
   default  listen on all interfaces, TCP and QUIC port 4280, API on 127.0.0.1:5280
   public   like default, and offer the circuit relay service (a node with a public address)
   local    listen on 127.0.0.1 with OS-chosen ports, no bootstrap peers (tests, demos)

Example:
   shoal --repo /tmp/n1 init --profile local
   shoal init --profile public                               # a bootstrap + relay node
   shoal init --bootstrap /ip4/203.0.113.7/tcp/4280/p2p/12D3KooW...   # join through it
   shoal init --swarm-key ./swarm.key     # join a private network`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "profile", Value: node.ProfileDefault, Usage: "config profile: default, public or local"},
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "bootstrap peer multiaddr ending in /p2p/PEERID, written to the config (repeatable)"},
			&cli.StringFlag{Name: "swarm-key", Usage: "copy this swarm.key into the repo: the node joins that private network (TCP only)"},
			&cli.StringSliceFlag{Name: "label", Usage: "capability label key=value (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("init takes no arguments (got %q); use --repo to choose the directory", c.Args().First())
			}
			repo := c.String("repo")
			var key []byte
			if p := c.String("swarm-key"); p != "" {
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("read swarm key: %w", err)
				}
				key = b
			}
			labels, err := parseLabels(c.StringSlice("label"))
			if err != nil {
				return err
			}
			boot := c.StringSlice("bootstrap")
			if _, err := p2p.ParseBootstrap(boot); err != nil {
				return fmt.Errorf("--bootstrap: %w", err)
			}
			cfg, err := node.Init(repo, node.InitOptions{Profile: c.String("profile"), SwarmKey: key, Mutate: func(cfg *node.Config) {
				if len(labels) > 0 {
					cfg.Capabilities.Labels = labels
				}
				cfg.Bootstrap = append(cfg.Bootstrap, boot...)
			}})
			if err != nil {
				return err
			}
			fmt.Printf("initialized repo at %s\npeer ID: %s\n", repo, cfg.Identity.PeerID)
			return nil
		},
		Subcommands: nil,
	}
}

func swarmKeyCmd() *cli.Command {
	return &cli.Command{
		Name:  "swarm-key",
		Usage: "print a new pre-shared key for a private network (kubo's swarm.key format)",
		Description: `Every node of a private network needs the same key; nodes without it cannot connect.
Example:
   shoal swarm-key > swarm.key && shoal init --swarm-key swarm.key`,
		Action: func(c *cli.Context) error {
			k, err := p2p.GenerateSwarmKey()
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(k)
			return err
		},
	}
}

func parseLabels(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range in {
		k, v, ok := cutLabel(l)
		if !ok {
			return nil, fmt.Errorf("invalid label %q: want key=value", l)
		}
		out[k] = v
	}
	return out, nil
}

func cutLabel(l string) (string, string, bool) {
	for i := 0; i < len(l); i++ {
		if l[i] == '=' {
			return l[:i], l[i+1:], i > 0
		}
	}
	return "", "", false
}
