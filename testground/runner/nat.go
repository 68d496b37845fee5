package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

// NAT kinds of Config.NAT, as in a composition's [global.run_config.nat].
const (
	NATPublic              = runtime.NATPublic
	NATEndpointIndependent = runtime.NATEndpointIndependent
	NATSymmetric           = runtime.NATSymmetric
)

// checkNAT validates cfg.NAT against the runner and the groups, and says
// why a NAT topology cannot be built here.
func checkNAT(cfg *Config) error {
	if len(cfg.NAT) == 0 {
		return nil
	}
	if cfg.Runner != LocalExec {
		return fmt.Errorf("runner: run_config.nat places groups behind NATs, which only %s can do (runner is %s)", LocalExec, cfg.Runner)
	}
	groups := map[string]bool{}
	for _, g := range cfg.Groups {
		groups[g.ID] = true
	}
	for g, kind := range cfg.NAT {
		if !groups[g] {
			return fmt.Errorf("runner: run_config.nat names group %q, which the run does not have", g)
		}
		switch kind {
		case NATPublic, NATEndpointIndependent, NATSymmetric:
		default:
			return fmt.Errorf("runner: run_config.nat: group %s has NAT %q: use %q, %q or %q", g, kind, NATPublic, NATEndpointIndependent, NATSymmetric)
		}
	}
	if why := natnet.Available(); why != "" {
		return fmt.Errorf("runner: run_config.nat places groups behind NATs in network namespaces, which cannot be built here: %s; run as root with ip and nft, or run a composition without run_config.nat", why)
	}
	return nil
}

// natTopology is a run's NAT topology: the public segment holds every
// group not behind a NAT, each NAT'd group has a site of its own (a
// router namespace and a host namespace shared by the group's instances).
type natTopology struct {
	lab     *natnet.Lab
	sockDir string // holds the sync service's Unix socket
	groups  map[string]natPlace
}

// natPlace is where a group's instances run.
type natPlace struct {
	kind   string // runtime.NAT*
	ns     string
	ip     string
	subnet string
}

// buildNAT builds the topology of cfg.NAT for the groups, sites in the
// order of the groups.
func buildNAT(cfg *Config) (*natTopology, error) {
	var nats []natnet.NAT
	var siteGroups []string
	for _, g := range cfg.Groups {
		switch cfg.NAT[g.ID] {
		case NATEndpointIndependent:
			nats = append(nats, natnet.EndpointIndependent)
		case NATSymmetric:
			nats = append(nats, natnet.Symmetric)
		default:
			continue
		}
		siteGroups = append(siteGroups, g.ID)
	}
	// A Unix socket's path is limited to 108 bytes; the run directory's
	// may be longer.
	sockDir, err := os.MkdirTemp("", "shoal-sync-")
	if err != nil {
		return nil, fmt.Errorf("local:exec: sync socket directory: %w", err)
	}
	lab, err := natnet.Build(nats...)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("local:exec: building the NAT topology: %w", err)
	}
	t := &natTopology{lab: lab, sockDir: sockDir, groups: map[string]natPlace{}}
	for _, g := range cfg.Groups {
		t.groups[g.ID] = natPlace{kind: NATPublic, ns: lab.Public, ip: lab.PublicIP, subnet: natnet.PublicNet + ".0/24"}
	}
	for i, g := range siteGroups {
		s := lab.Sites[i]
		t.groups[g] = natPlace{kind: cfg.NAT[g], ns: s.Host, ip: s.HostIP, subnet: strings.TrimSuffix(s.HostIP, ".2") + ".0/24"}
	}
	return t, nil
}

// socket is the path of the sync service's socket.
func (t *natTopology) socket() string { return filepath.Join(t.sockDir, "sync.sock") }

// describe is one line per namespace, for the run's log.
func (t *natTopology) describe() string {
	var lines []string
	for g, p := range t.groups {
		lines = append(lines, fmt.Sprintf("group %s: %s in %s (%s)", g, p.kind, p.ns, p.ip))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// close kills what still runs in the namespaces, deletes them and the
// socket directory. It is safe to call twice.
func (t *natTopology) close() error {
	err := t.lab.Close()
	_ = os.RemoveAll(t.sockDir)
	return err
}
