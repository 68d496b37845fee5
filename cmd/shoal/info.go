package main

import (
	"fmt"
	"github.com/shoalnet/shoal/bidding/market"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

func idCmd() *cli.Command {
	return &cli.Command{
		Name:        "id",
		Usage:       "show the daemon's peer ID, addresses and engines",
		Description: "Example:\n   shoal id --json",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return err
			}
			id, err := cl.ID(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(id)
			}
			fmt.Printf("ID:       %s\nVersion:  %s\nEngines:  %s\nPeers:    %d\n", id.ID, id.Version, strings.Join(id.Engines, ", "), id.Peers)
			if id.Private {
				fmt.Println("Network:  private (swarm.key)")
			}
			fmt.Println("Addresses:")
			for _, a := range id.Addrs {
				fmt.Println("  " + a)
			}
			return nil
		},
	}
}

func peersCmd() *cli.Command {
	return &cli.Command{
		Name:        "peers",
		Usage:       "list the peers the daemon is connected to",
		Description: "Example:\n   shoal peers --wait 2 --timeout 10s   # wait until 2 peers are connected",
		Flags:       []cli.Flag{jsonFlag, waitFlag, timeoutFlag},
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return err
			}
			peers, err := cl.Peers(c.Context, waitOpts(c))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(peers)
			}
			w := table()
			fmt.Fprintln(w, "PEER\tCONNECTION\tADDRESS\tDIRECTION\tLATENCY")
			for _, p := range peers {
				lat := "-"
				if p.LatencyMS > 0 {
					lat = fmt.Sprintf("%.2fms", p.LatencyMS)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Connection, p.Addr, p.Direction, lat)
			}
			return w.Flush()
		},
	}
}

func nodesCmd() *cli.Command {
	return &cli.Command{
		Name:  "nodes",
		Usage: "list the nodes of the network and their capabilities (from the DHT)",
		Description: `Looks the nodes up in the DHT (not only connected peers): the providers of the
well-known capability key, then each node's signed capability record.

Example:
   shoal nodes --engine docker --label region=eu --json`,
		Flags: []cli.Flag{
			jsonFlag, waitFlag, timeoutFlag,
			&cli.StringFlag{Name: "engine", Usage: "only nodes that run this engine (wasm, docker)"},
			&cli.StringSliceFlag{Name: "label", Usage: "only nodes with this label key=value (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return err
			}
			for _, l := range c.StringSlice("label") {
				if _, _, ok := cutLabel(l); !ok {
					return fmt.Errorf("invalid label %q: want key=value", l)
				}
			}
			res, err := cl.Nodes(c.Context, c.String("engine"), c.StringSlice("label"), waitOpts(c))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(res)
			}
			w := table()
			fmt.Fprintln(w, "PEER\tENGINES\tCPU\tMEMORY\tLOAD\tLABELS\tSOFTWARE\tREPUTATION")
			for _, n := range res.Nodes {
				var labels []string
				for k, v := range n.Labels {
					labels = append(labels, k+"="+v)
				}
				sort.Strings(labels)
				rep := "-"
				if r, ok := res.Reputation[n.Peer.String()]; ok {
					rep = reputationText(r)
				}
				fmt.Fprintf(w, "%s\t%s\t%g\t%s\t%d running, %d queued\t%s\t%s\t%s\n", n.Peer, strings.Join(n.Engines, ","), n.CPU, humanBytes(n.Memory), n.Load.Running, n.Load.Queued, strings.Join(labels, ","), n.Software, rep)
			}
			return w.Flush()
		},
	}
}

func versionCmd() *cli.Command {
	return &cli.Command{
		Name:        "version",
		Usage:       "print the version of this binary (and of the daemon, when one runs)",
		Description: "Example:\n   shoal version --json",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			out := map[string]string{"client": node.Version}
			if cl, err := client(c); err == nil {
				if v, err := cl.Version(c.Context); err == nil {
					out["daemon"] = v.Version
				}
			}
			if c.Bool("json") {
				return printJSON(out)
			}
			fmt.Printf("shoal %s\n", out["client"])
			if d, ok := out["daemon"]; ok {
				fmt.Printf("daemon %s\n", d)
			}
			return nil
		},
	}
}

var (
	waitFlag    = &cli.IntFlag{Name: "wait", Usage: "wait until the list has at least this many entries"}
	timeoutFlag = &cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long --wait (and the DHT lookup) may take"}
)

func waitOpts(c *cli.Context) api.WaitOptions {
	return api.WaitOptions{Min: c.Int("wait"), Timeout: c.Duration("timeout")}
}

// reputationText is a reputation in one cell: the score, then completed,
// agreements, disagreements, failures and timeouts.
func reputationText(r market.PeerReputation) string {
	return fmt.Sprintf("%d (%d completed, %d agreed, %d disagreed, %d failed, %d timed out)", r.Score, r.Completed, r.Agreements, r.Disagreements, r.Failures, r.Timeouts)
}
