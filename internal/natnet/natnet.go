// Package natnet builds a real NAT topology out of Linux network
// namespaces: a
// "public" segment (a bridge in the shared address space 100.64.0.0/24,
// which nothing on the internet routes) and sites, each a private LAN
// (10.N.0.0/24) behind a router namespace that masquerades with nftables.
// Like a home router, a site router drops unsolicited packets from the
// public side silently (no RST, no ICMP), so a hole punch's first packet
// that arrives before the router saw its own side's packet is lost and
// retransmitted instead of resetting the attempt.
// A site's NAT is endpoint-independent (Linux conntrack keeps the source
// port: hole punching can work) or symmetric (every new flow gets a random
// port: it cannot).
//
// Everything is created under a name prefix that carries the PID of the
// process that built it and removed by Close, whatever the outcome;
// leftovers of a process that is gone (kill -9) are removed the next time
// a topology is built. Nothing is routed to the outside: the root
// namespace is never touched beyond creating and deleting the namespaces.
//
// Its users are the multi-node tests and the NAT demo (internal/natlab,
// which adds the test harness and the daemons) and the simulation
// runner's local:exec NAT topology (testground/runner). It needs root, ip
// and nft (Available says why not). The daemon must not import it, and it
// imports only the standard library and package node (for the node
// configuration a topology needs, nodeconfig.go).
package natnet

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
)

// NAT is a site router's mapping behaviour.
type NAT int

const (
	// EndpointIndependent keeps a flow's source port (conntrack's default
	// masquerade): the mapping seen by one peer is the one every peer
	// sees, so DCUtR's simultaneous dial gets through.
	EndpointIndependent NAT = iota
	// Symmetric maps every new flow to a random port (masquerade
	// fully-random): the address the relay observed is useless to
	// anyone else, so hole punching fails.
	Symmetric
)

func (n NAT) String() string {
	if n == Symmetric {
		return "symmetric"
	}
	return "endpoint-independent"
}

// Prefix starts the name of every namespace a lab creates; the PID of the
// process that made it follows.
const Prefix = "shoalnat"

// PublicNet is the "internet" segment; the public node is PublicNet.1,
// site i's router is PublicNet.(i+2).
const PublicNet = "100.64.0"

var labs atomic.Int64

// Site is one NAT'd site: a router namespace and a host namespace behind it.
type Site struct {
	NAT    NAT
	Router string // namespace of the router
	Host   string // namespace of the site's host
	HostIP string // the host's private address (10.N.0.2)
	WANIP  string // the router's public address (100.64.0.N+2)
}

// Lab is a built topology.
type Lab struct {
	Name     string // prefix of every namespace
	Public   string // namespace of the public segment
	PublicIP string // address of the public host (100.64.0.1)
	Sites    []Site
}

// Available says why a lab cannot be built here, "" when it can.
func Available() string {
	if os.Geteuid() != 0 {
		return "a NAT topology needs root (network namespaces, nftables)"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "a NAT topology needs the " + tool + " tool"
		}
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		return "a NAT topology needs `ip netns`: " + err.Error()
	}
	return ""
}

// Build builds a public segment and one site per entry of nats. The
// caller must Close the Lab, also when a later step fails; on error Build
// has removed what it made.
func Build(nats ...NAT) (*Lab, error) {
	if why := Available(); why != "" {
		return nil, fmt.Errorf("%s", why)
	}
	RemoveStale(func(string, ...any) {})
	l := &Lab{Name: fmt.Sprintf("%s%dx%d", Prefix, os.Getpid(), labs.Add(1)), PublicIP: PublicNet + ".1"}
	if err := l.build(nats); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) build(nats []NAT) error {
	l.Public = l.Name + "-pub"
	if err := addNS(l.Public); err != nil {
		return err
	}
	if err := run("ip", "-n", l.Public, "link", "add", "br0", "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "-n", l.Public, "addr", "add", l.PublicIP+"/24", "dev", "br0"); err != nil {
		return err
	}
	if err := run("ip", "-n", l.Public, "link", "set", "br0", "up"); err != nil {
		return err
	}
	for i, nat := range nats {
		s := Site{
			NAT:    nat,
			Router: fmt.Sprintf("%s-r%d", l.Name, i),
			Host:   fmt.Sprintf("%s-h%d", l.Name, i),
			HostIP: fmt.Sprintf("10.%d.0.2", i+1),
			WANIP:  fmt.Sprintf("%s.%d", PublicNet, i+2),
		}
		if err := l.buildSite(i, s); err != nil {
			return fmt.Errorf("site %d: %w", i, err)
		}
		l.Sites = append(l.Sites, s)
	}
	return nil
}

func (l *Lab) buildSite(i int, s Site) error {
	lanGW := fmt.Sprintf("10.%d.0.1", i+1)
	wanPort := fmt.Sprintf("wan%d", i)
	steps := [][]string{
		// The router's WAN leg on the public bridge.
		{"ip", "-n", s.Router, "link", "add", "wan0", "type", "veth", "peer", "name", wanPort, "netns", l.Public},
		{"ip", "-n", l.Public, "link", "set", wanPort, "master", "br0"},
		{"ip", "-n", l.Public, "link", "set", wanPort, "up"},
		{"ip", "-n", s.Router, "addr", "add", s.WANIP + "/24", "dev", "wan0"},
		{"ip", "-n", s.Router, "link", "set", "wan0", "up"},
		// The LAN between router and host.
		{"ip", "-n", s.Router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", s.Host},
		{"ip", "-n", s.Router, "addr", "add", lanGW + "/24", "dev", "lan0"},
		{"ip", "-n", s.Router, "link", "set", "lan0", "up"},
		{"ip", "-n", s.Host, "addr", "add", s.HostIP + "/24", "dev", "eth0"},
		{"ip", "-n", s.Host, "link", "set", "eth0", "up"},
		{"ip", "-n", s.Host, "route", "add", "default", "via", lanGW},
		{"ip", "netns", "exec", s.Router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	}
	for _, ns := range []string{s.Router, s.Host} {
		if err := addNS(ns); err != nil {
			return err
		}
	}
	for _, st := range steps {
		if err := run(st...); err != nil {
			return err
		}
	}
	masq := "masquerade"
	if s.NAT == Symmetric {
		masq = "masquerade random,fully-random"
	}
	rules := fmt.Sprintf(`table ip nat {
 chain snat_out { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan0" ip saddr 10.%d.0.0/24 %s
 }
}
table ip filter {
 chain wanin { type filter hook input priority filter; policy accept;
  iifname "wan0" ct state established,related accept
  iifname "wan0" drop
 }
 chain lanwan { type filter hook forward priority filter; policy drop;
  iifname "lan0" oifname "wan0" accept
  iifname "wan0" oifname "lan0" ct state established,related accept
 }
}
`, i+1, masq)
	cmd := exec.Command("ip", "netns", "exec", s.Router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", s.Router, err, out)
	}
	return nil
}

// Exec is the command prefix that runs a program in namespace ns.
func Exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// Close kills what still runs in the lab's namespaces and deletes them.
// It may be called more than once.
func (l *Lab) Close() error {
	return removeNamespaces(func(name string) bool { return strings.HasPrefix(name, l.Name+"-") })
}

// RemoveStale deletes the namespaces of labs whose process is gone.
func RemoveStale(logf func(string, ...any)) {
	err := removeNamespaces(func(name string) bool {
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			return false
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "x", 2)[0])
		if err != nil || pid == os.Getpid() {
			return false
		}
		_, err = os.Stat("/proc/" + strconv.Itoa(pid))
		return err != nil // that process is gone
	})
	if err != nil {
		logf("removing stale NAT lab namespaces: %v", err)
	}
}

func removeNamespaces(match func(string) bool) error {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns list: %v: %s", err, out)
	}
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !match(f[0]) {
			continue
		}
		ns := f[0]
		if pids, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				if pid, err := strconv.Atoi(p); err == nil {
					if proc, err := os.FindProcess(pid); err == nil {
						_ = proc.Kill()
					}
				}
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("No such file")) {
			errs = append(errs, fmt.Sprintf("ip netns del %s: %v: %s", ns, err, out))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func addNS(name string) error {
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	return run("ip", "-n", name, "link", "set", "lo", "up")
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
