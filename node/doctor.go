package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/p2p"
)

// Doctor report: what `shoal doctor` prints.
type (
	// DoctorReport is the node's view of its own health.
	DoctorReport struct {
		Peer         string `json:"peer"`
		Reachability string `json:"reachability"` // public, private or unknown
		// Why says what the reachability rests on.
		Why         string   `json:"why"`
		Listen      []string `json:"listen_addrs"`
		Advertised  []string `json:"advertised_addrs"`
		Observed    []string `json:"observed_addrs,omitempty"`
		Reachable   []string `json:"autonat_reachable,omitempty"`
		Unreachable []string `json:"autonat_unreachable,omitempty"`
		// Relays are the relays whose /p2p-circuit addresses this node
		// advertises.
		Relays       []string                `json:"relays_in_use"`
		RelayService *p2p.RelayStatsSnapshot `json:"relay_service,omitempty"`
		HolePunches  []p2p.HolePunch         `json:"hole_punches"`
		Bootstrap    []DoctorBootstrap       `json:"bootstrap"`
		Peers        DoctorPeers             `json:"peers"`
		Engines      []string                `json:"engines"`
		Docker       string                  `json:"docker"`
		Repo         string                  `json:"repo"`
		Problems     []DoctorProblem         `json:"problems"`
	}
	// DoctorBootstrap is one configured bootstrap peer.
	DoctorBootstrap struct {
		Peer       string `json:"peer"`
		Connection string `json:"connection"` // direct, relayed or none
	}
	// DoctorPeers counts connected peers by connection type.
	DoctorPeers struct {
		Direct  int `json:"direct"`
		Relayed int `json:"relayed"`
	}
	// DoctorProblem is one thing wrong and what to do about it.
	DoctorProblem struct {
		What string `json:"what"`
		Fix  string `json:"fix"`
	}
)

// Doctor checks reachability, relays, hole punching, bootstrap peers,
// engines and the repo.
func (n *Node) Doctor(ctx context.Context) DoctorReport {
	h := n.Host
	r := DoctorReport{Peer: n.ID().String(), Relays: []string{}, Problems: []DoctorProblem{}}
	problem := func(what, fix string) { r.Problems = append(r.Problems, DoctorProblem{What: what, Fix: fix}) }
	r.Reachability, r.Reachable, r.Unreachable = n.Reachability()
	for _, a := range h.Network().ListenAddresses() {
		r.Listen = append(r.Listen, a.String())
	}
	for _, a := range h.Addrs() {
		r.Advertised = append(r.Advertised, a.String())
	}
	// AllAddrs includes the addresses identify's observers reported.
	if oa, ok := h.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		for _, a := range oa.AllAddrs() {
			if !slices.Contains(r.Listen, a.String()) {
				r.Observed = append(r.Observed, a.String())
			}
		}
	}
	for _, id := range p2p.RelaysInUse(h) {
		r.Relays = append(r.Relays, id.String())
	}
	switch {
	case n.cfg.Swarm.Reachability != "":
		r.Why = fmt.Sprintf("set by swarm.reachability = %q", n.cfg.Swarm.Reachability)
	case len(r.Reachable) > 0:
		r.Why = "AutoNAT: peers dialled back to " + r.Reachable[0]
	case r.Reachability == "private":
		r.Why = "AutoNAT: peers could not dial back to this node's observed addresses"
	case r.Reachability == "public":
		r.Why = "AutoNAT: peers dialled back to this node"
	default:
		r.Why = "AutoNAT has no verdict yet: it needs connected peers that run the AutoNAT service"
	}
	if n.cfg.Relay.Service {
		s := n.RelayStats()
		r.RelayService = &s
		if !s.Active {
			problem("relay.service is on but the relay is not running: libp2p starts it only once AutoNAT finds this node publicly reachable",
				"give the node a public address (or forward port 4280 to it) and check that peers can dial it; `swarm.reachability: \"public\"` skips the check")
		}
	}
	if r.Reachability == "private" && len(r.Relays) == 0 {
		problem("this node is behind a NAT and holds no relay reservation: NAT'd peers cannot reach it",
			"connect to a node started with `shoal init --profile public`, or list one in relay.static")
	}
	r.HolePunches = n.HolePunches()
	if r.HolePunches == nil {
		r.HolePunches = []p2p.HolePunch{}
	}
	failed := 0
	for _, hp := range r.HolePunches {
		if !hp.Success {
			failed++
		}
	}
	if failed > 0 && failed == len(r.HolePunches) {
		problem(fmt.Sprintf("all %d recent hole punches failed: this NAT may map each connection to a new port (symmetric NAT)", failed),
			"enable swarm.port_mapping if the router speaks UPnP/NAT-PMP, forward the swarm port, or run the node where it has a public address")
	}
	reached := 0
	for _, b := range n.bootstrap {
		ct := p2p.ConnType(h, b.ID)
		if ct != p2p.ConnNone {
			reached++
		}
		r.Bootstrap = append(r.Bootstrap, DoctorBootstrap{Peer: b.ID.String(), Connection: ct})
	}
	switch {
	case len(n.bootstrap) == 0:
		problem("no bootstrap peers configured: the node finds others only if they dial it",
			"`shoal init --bootstrap /ip4/…/tcp/4280/p2p/…` or add entries to bootstrap in $REPO/config")
	case reached == 0:
		problem("no bootstrap peer is connected", "check the addresses in bootstrap and that the peers run; `shoal peers` lists what is connected")
	}
	for _, p := range h.Network().Peers() {
		if p2p.ConnType(h, p) == p2p.ConnDirect {
			r.Peers.Direct++
		} else {
			r.Peers.Relayed++
		}
	}
	r.Engines = n.Engines()
	switch {
	case slices.Contains(r.Engines, exec.EngineDocker):
		r.Docker = "in use"
	case n.cfg.Jobs.DisableDocker:
		r.Docker = "disabled by jobs.disable_docker"
	case docker.Available(ctx):
		r.Docker = "reachable but not in use (see the daemon's log)"
	default:
		r.Docker = "not reachable"
		problem("the Docker Engine is not reachable: docker jobs are not offered", "start dockerd, or set DOCKER_HOST")
	}
	r.Repo = n.repoHealth()
	if r.Repo != "ok" && r.Repo != "in memory" {
		problem("repo: "+r.Repo, "free disk space or fix the permissions of "+n.repoPath)
	}
	return r
}

// repoHealth checks that the repo is writable and has room.
func (n *Node) repoHealth() string {
	if n.repoPath == "" {
		return "in memory"
	}
	f, err := os.CreateTemp(n.repoPath, ".doctor-*")
	if err != nil {
		return fmt.Sprintf("not writable: %v", err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	if free := freeDisk(filepath.Clean(n.repoPath)); free >= 0 && free < 1<<30 {
		return fmt.Sprintf("only %d MiB free", free>>20)
	}
	return "ok"
}
