package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
)

func doctorCmd() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check reachability, relays, hole punching, bootstrap peers, engines and the repo",
		Description: `Asks the daemon what it knows about its own network position: whether AutoNAT found
it publicly reachable (and why), its listen, observed and advertised addresses, the
relays it holds reservations on, its recent hole-punch attempts, which bootstrap
peers are connected and how (direct or relayed), and the state of the Docker Engine
and the repo. Every problem is printed with what to do. Exits 1 if the daemon's API
cannot be reached.

Example:
   shoal doctor
   shoal doctor --json`,
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := client(c)
			if err != nil {
				return fmt.Errorf("API: %w (is `shoal daemon` running on this repo?)", err)
			}
			var r node.DoctorReport
			if err := cl.GetJSON(c.Context, "/doctor", nil, &r); err != nil {
				return fmt.Errorf("API: %w (is `shoal daemon` running? start it, or pass --api)", err)
			}
			if c.Bool("json") {
				return printJSON(r)
			}
			printDoctor(r)
			return nil
		},
	}
}

func printDoctor(r node.DoctorReport) {
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "-"
		}
		return strings.Join(xs, "\n                ")
	}
	fmt.Printf("peer:           %s\n", r.Peer)
	fmt.Printf("reachability:   %s (%s)\n", r.Reachability, r.Why)
	fmt.Printf("listening on:   %s\n", list(r.Listen))
	fmt.Printf("observed:       %s\n", list(r.Observed))
	fmt.Printf("advertised:     %s\n", list(r.Advertised))
	fmt.Printf("relays in use:  %s\n", list(r.Relays))
	if s := r.RelayService; s != nil {
		fmt.Printf("relay service:  active=%v reservations=%d circuits=%d (open %d) bytes relayed=%d\n", s.Active, s.Reservations, s.Circuits, s.OpenCircuits, s.Bytes)
	}
	fmt.Printf("hole punches:   %d recent\n", len(r.HolePunches))
	for _, h := range r.HolePunches {
		res := "ok"
		if !h.Success {
			res = "failed " + h.Error
		}
		fmt.Printf("  %s %s %s attempt %d: %s (%s)\n", h.At.Format(time.RFC3339), h.Peer, h.Kind, h.Attempt, res, h.Took.Round(time.Millisecond))
	}
	fmt.Printf("bootstrap:      %d configured\n", len(r.Bootstrap))
	for _, b := range r.Bootstrap {
		fmt.Printf("  %s %s\n", b.Peer, b.Connection)
	}
	fmt.Printf("peers:          %d direct, %d relayed\n", r.Peers.Direct, r.Peers.Relayed)
	fmt.Printf("API:            ok\n")
	fmt.Printf("engines:        %s (docker: %s)\n", strings.Join(r.Engines, ", "), r.Docker)
	fmt.Printf("repo:           %s\n", r.Repo)
	if len(r.Problems) == 0 {
		fmt.Println("no problems found")
		return
	}
	fmt.Printf("%d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Printf("  - %s\n    fix: %s\n", p.What, p.Fix)
	}
}
