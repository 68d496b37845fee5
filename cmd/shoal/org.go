package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/trust"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// trustTarget is where an org or policy command acts: the daemon that holds
// the repo (or the one --api names), else the repo itself, whose lock it
// then holds until release.
type trustTarget struct {
	client  *api.Client
	store   *node.OrgStore
	release func()
}

func openTrustTarget(c *cli.Context) (*trustTarget, error) {
	if c.String("api") != "" {
		cl, err := client(c)
		return &trustTarget{client: cl, release: func() {}}, err
	}
	dir := c.String("repo")
	r, err := node.OpenRepo(dir)
	if err != nil {
		return nil, err
	}
	unlock, err := r.Lock()
	if errors.Is(err, node.ErrRepoLocked) {
		cl, err := client(c)
		return &trustTarget{client: cl, release: func() {}}, err
	}
	if err != nil {
		return nil, err
	}
	return &trustTarget{store: &node.OrgStore{Repo: dir, Self: r.ID}, release: func() { _ = unlock() }}, nil
}

// withTrust runs online or offline, whichever applies.
func withTrust(c *cli.Context, online func(*api.Client) error, offline func(*node.OrgStore) error) error {
	t, err := openTrustTarget(c)
	if err != nil {
		return err
	}
	defer t.release()
	if t.client != nil {
		return online(t.client)
	}
	return offline(t.store)
}

func orgArgs(c *cli.Context, n int, usage string) error {
	if c.NArg() != n {
		return fmt.Errorf("usage: shoal org %s %s (see `shoal org %s --help`)", c.Command.Name, usage, c.Command.Name)
	}
	return nil
}

func orgCmd() *cli.Command {
	return &cli.Command{
		Name:  "org",
		Usage: "organizations: org keys, membership certificates, trusted orgs, deny-list",
		Description: `An org is a key. Its admin node signs membership certificates for peers
(role requester, executor or both, with an expiry); a member node installs its
certificate and presents it in its capability record, announcements and bids.
Other nodes count it only if they trust the org's key. Admission policies
(` + "`shoal policy`" + `) and job constraints (constraints.executors.orgs) then name orgs.

These commands act on the running daemon of --repo, or on the repo itself when
no daemon runs. See docs/security.md.

Example (acme's admin node, then a member node, then a node that trusts acme):
   shoal org init acme
   shoal org issue --org acme --role executor 12D3KooW... -o member.cert
   shoal --repo /srv/member org join member.cert
   shoal --repo /srv/other org trust acme bafzaa...`,
		Subcommands: []*cli.Command{
			{
				Name: "init", Usage: "create an org key in this repo (orgs/NAME.key, 0600) and trust it here", ArgsUsage: "NAME",
				Description: "Prints the org's public key, which other nodes pass to `shoal org trust`.\n\nExample:\n   shoal org init acme",
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "NAME"); err != nil {
						return err
					}
					name := c.Args().First()
					var pub string
					err := withTrust(c, func(cl *api.Client) error {
						k, err := cl.OrgInit(c.Context, name)
						pub = k.PublicKey
						return err
					}, func(s *node.OrgStore) (err error) {
						pub, err = s.Init(name)
						return err
					})
					if err != nil {
						return err
					}
					fmt.Printf("org %s created; its public key:\n  %s\nOther nodes trust it with:\n  shoal org trust %s %s\n", name, pub, name, pub)
					return nil
				},
			},
			{
				Name: "issue", Usage: "sign a membership certificate of an org for a peer", ArgsUsage: "PEERID",
				Description: `Needs the org's key in this repo (shoal org init). Writes the certificate (PEM)
to --output, or to stdout; the member installs it with ` + "`shoal org join`" + `.

Example:
   shoal org issue --org acme --role requester --expires 720h 12D3KooW... -o alice.cert`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "org", Required: true, Usage: "the org that vouches for the peer"},
					&cli.StringFlag{Name: "role", Value: string(trust.RoleBoth), Usage: "requester (submits jobs), executor (runs jobs) or both"},
					&cli.DurationFlag{Name: "expires", Value: trust.DefaultValidity, Usage: "validity from now"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the certificate to this file (default stdout)"},
				},
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "--org NAME PEERID"); err != nil {
						return err
					}
					p, err := peer.Decode(c.Args().First())
					if err != nil {
						return fmt.Errorf("invalid PEERID %q: want a peer ID as `shoal id` prints it (12D3KooW…)", c.Args().First())
					}
					role, err := trust.ParseRole(c.String("role"))
					if err != nil {
						return err
					}
					if c.Duration("expires") <= 0 {
						return fmt.Errorf("--expires %s: want a positive duration such as 720h", c.Duration("expires"))
					}
					var info node.CertInfo
					err = withTrust(c, func(cl *api.Client) error {
						r, err := cl.OrgIssue(c.Context, c.String("org"), p.String(), string(role), c.Duration("expires"))
						if err == nil {
							info = *r
						}
						return err
					}, func(s *node.OrgStore) error {
						cert, err := s.Issue(c.String("org"), p, role, c.Duration("expires"))
						if err != nil {
							return err
						}
						info = node.CertInfo{ID: cert.ID().String(), Org: cert.Org, Peer: cert.Peer.String(), Role: string(cert.Role),
							Expires: cert.Expires, PEM: string(cert.EncodePEM())}
						return nil
					})
					if err != nil {
						return err
					}
					if out := c.String("output"); out != "" {
						if err := os.WriteFile(out, []byte(info.PEM), 0o644); err != nil {
							return fmt.Errorf("write certificate: %w", err)
						}
					} else {
						fmt.Print(info.PEM)
					}
					fmt.Fprintf(os.Stderr, "certificate %s: %s is a member of %s (%s) until %s\n", info.ID, info.Peer, info.Org, info.Role, info.Expires.Local().Format(time.RFC3339))
					return nil
				},
			},
			{
				Name: "join", Usage: "install a membership certificate on this node", ArgsUsage: "CERTFILE",
				Description: "The certificate must name this node's peer ID and not be expired; it replaces an\nearlier one of the same org. Use - to read stdin.\n\nExample:\n   shoal org join alice.cert",
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "CERTFILE"); err != nil {
						return err
					}
					data, err := readFileArg(c.Args().First())
					if err != nil {
						return err
					}
					var org, role string
					var expires time.Time
					err = withTrust(c, func(cl *api.Client) error {
						r, err := cl.OrgJoin(c.Context, data)
						if err == nil {
							org, role, expires = r.Org, r.Role, r.Expires
						}
						return err
					}, func(s *node.OrgStore) error {
						cert, err := s.Join(data)
						if err == nil {
							org, role, expires = cert.Org, string(cert.Role), cert.Expires
						}
						return err
					})
					if err != nil {
						return err
					}
					fmt.Printf("joined %s as %s until %s\n", org, role, expires.Local().Format(time.RFC3339))
					return nil
				},
			},
			{
				Name: "leave", Usage: "remove this node's certificate of an org", ArgsUsage: "NAME",
				Description: "Example:\n   shoal org leave acme",
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "NAME"); err != nil {
						return err
					}
					name := c.Args().First()
					err := withTrust(c, func(cl *api.Client) error { return cl.OrgLeave(c.Context, name) },
						func(s *node.OrgStore) error { return s.Leave(name) })
					if err == nil {
						fmt.Printf("left %s\n", name)
					}
					return err
				},
			},
			{
				Name: "trust", Usage: "count certificates of an org, signed by its key, on this node", ArgsUsage: "NAME PUBKEY",
				Description: "PUBKEY is what `shoal org init` printed on the org's admin node.\n\nExample:\n   shoal org trust acme bafzaajaiaejc...",
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 2, "NAME PUBKEY"); err != nil {
						return err
					}
					name, key := c.Args().Get(0), c.Args().Get(1)
					err := withTrust(c, func(cl *api.Client) error { return cl.OrgTrust(c.Context, name, key) },
						func(s *node.OrgStore) error { return s.Trust(name, key) })
					if err == nil {
						fmt.Printf("trusting org %s\n", name)
					}
					return err
				},
			},
			{
				Name: "untrust", Usage: "stop counting certificates of an org", ArgsUsage: "NAME",
				Description: "Example:\n   shoal org untrust acme",
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "NAME"); err != nil {
						return err
					}
					name := c.Args().First()
					err := withTrust(c, func(cl *api.Client) error { return cl.OrgUntrust(c.Context, name) },
						func(s *node.OrgStore) error { return s.Untrust(name) })
					if err == nil {
						fmt.Printf("no longer trusting org %s\n", name)
					}
					return err
				},
			},
			{
				Name: "revoke", Usage: "deny-list a peer (all its certificates) or one certificate", ArgsUsage: "PEERID|CERTID",
				Description: "Takes effect at once on a running daemon. --undo takes the entry off the list.\n\nExample:\n   shoal org revoke 12D3KooW...\n   shoal org revoke bafyrei...        # one certificate, as `shoal org list` shows its ID",
				Flags:       []cli.Flag{&cli.BoolFlag{Name: "undo", Usage: "remove the entry from the deny-list"}},
				Action: func(c *cli.Context) error {
					if err := orgArgs(c, 1, "PEERID|CERTID"); err != nil {
						return err
					}
					id, undo := c.Args().First(), c.Bool("undo")
					var entry string
					err := withTrust(c, func(cl *api.Client) error {
						r, err := cl.OrgDeny(c.Context, id, undo)
						if err == nil {
							entry = r.Entry
						}
						return err
					}, func(s *node.OrgStore) (err error) {
						entry, err = s.Deny(id, undo)
						return err
					})
					if err != nil {
						return err
					}
					if undo {
						fmt.Printf("%s is off the deny-list\n", entry)
					} else {
						fmt.Printf("%s is on the deny-list\n", entry)
					}
					return nil
				},
			},
			{
				Name: "list", Usage: "show org keys held, trusted orgs, this node's certificates and the deny-list",
				Description: "Example:\n   shoal org list --json",
				Flags:       []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					var info *node.OrgInfo
					err := withTrust(c, func(cl *api.Client) (err error) {
						info, err = cl.Orgs(c.Context)
						return err
					}, func(s *node.OrgStore) (err error) {
						info, err = s.Info()
						return err
					})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(info)
					}
					printOrgInfo(info)
					return nil
				},
			},
		},
	}
}

func printOrgInfo(info *node.OrgInfo) {
	section := func(title string, empty bool) bool {
		fmt.Println(title + ":")
		if empty {
			fmt.Println("  (none)")
		}
		return !empty
	}
	if section("Org keys held (can issue)", len(info.Keys) == 0) {
		for _, k := range info.Keys {
			fmt.Printf("  %s  %s\n", k.Name, k.PublicKey)
		}
	}
	if section("Trusted orgs", len(info.Trusted) == 0) {
		for _, k := range info.Trusted {
			fmt.Printf("  %s  %s\n", k.Name, k.PublicKey)
		}
	}
	if section("Memberships (presented to others)", len(info.Certs) == 0) {
		w := table()
		fmt.Fprintln(w, "  ORG\tROLE\tEXPIRES\tCERTIFICATE")
		for _, ct := range info.Certs {
			exp := ct.Expires.Local().Format(time.RFC3339)
			if ct.Expired {
				exp += " (expired)"
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", ct.Org, ct.Role, exp, ct.ID)
		}
		w.Flush()
	}
	if section("Deny-list", len(info.Deny) == 0) {
		fmt.Println("  " + strings.Join(info.Deny, "\n  "))
	}
}

// readFileArg reads a file, or stdin for "-".
func readFileArg(path string) ([]byte, error) {
	if path == "-" {
		b, err := readAllLimited(os.Stdin, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
