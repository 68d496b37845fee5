package testnet

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Partition is a silent network cut of one daemon on loopback: every
// packet to or from its swarm sockets is dropped by an nftables rule on
// the input path of lo, so nothing is closed and no sender sees an error
// (a drop on the output path would fail the sender's sendmsg with EPERM,
// which QUIC reports as a broken connection: not silent). Each Partition
// has a table of its own, named after the test process and a counter, so
// parallel runs never touch each other's rules.
//
// What is cut: the ports of every TCP and UDP socket the daemon's process
// holds when Cut runs (listeners and established connections) except its
// HTTP API. New connections are cut too as long as the daemon dials from
// its listening ports, which libp2p does on loopback (TCP with
// SO_REUSEPORT, QUIC over its one listening socket).
type Partition struct {
	table string
	d     *Daemon
	once  sync.Once
	err   error
}

var partitions atomic.Int64

// tablePrefix starts the name of every table Cut creates; the test
// process' PID follows, so stale tables of a process that died (kill -9
// of `go test`) can be told apart and removed.
const tablePrefix = "shoal_cut_"

// Cut partitions d from every other process on loopback until Heal, which
// also runs at the end of the test whatever its outcome. It needs root and
// the nft tool; the test is skipped without them.
func Cut(t testing.TB, d *Daemon) *Partition {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a silent partition needs root (nftables)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("a silent partition needs the nft tool")
	}
	removeStaleTables(t)
	tcp, udp, err := socketPorts(d.PID(), apiPort(d.API))
	if err != nil {
		t.Fatal(err)
	}
	if len(tcp)+len(udp) == 0 {
		t.Fatalf("daemon %s holds no socket to cut", d.ID)
	}
	p := &Partition{table: fmt.Sprintf("%s%d_%d", tablePrefix, os.Getpid(), partitions.Add(1)), d: d}
	var rules strings.Builder
	fmt.Fprintf(&rules, "table inet %s {\n chain in {\n  type filter hook input priority -10; policy accept;\n", p.table)
	comment := fmt.Sprintf("comment %q", "shoal test partition of "+d.ID)
	for _, set := range []struct {
		proto string
		ports []int
	}{{"tcp", tcp}, {"udp", udp}} {
		if len(set.ports) == 0 {
			continue
		}
		list := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(set.ports)), ","), "[]")
		fmt.Fprintf(&rules, "  iifname \"lo\" %s sport { %s } drop %s\n", set.proto, list, comment)
		fmt.Fprintf(&rules, "  iifname \"lo\" %s dport { %s } drop %s\n", set.proto, list, comment)
	}
	rules.WriteString(" }\n}\n")
	// Registered before the rules go in: a failure half-way still removes
	// whatever was added.
	t.Cleanup(func() {
		if err := p.Heal(); err != nil {
			t.Errorf("healing the partition: %v", err)
		}
	})
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s\n%s", err, out, rules.String())
	}
	t.Logf("cut %s: tcp ports %v, udp ports %v (nft table %s)", d.ID, tcp, udp, p.table)
	return p
}

// Heal removes the partition's rules; packets flow again. It may be
// called more than once.
func (p *Partition) Heal() error {
	p.once.Do(func() {
		out, err := exec.Command("nft", "delete", "table", "inet", p.table).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("No such file")) {
			p.err = fmt.Errorf("nft delete table %s: %v: %s", p.table, err, out)
		}
	})
	return p.err
}

// removeStaleTables deletes the tables of test processes that are gone.
func removeStaleTables(t testing.TB) {
	out, err := exec.Command("nft", "list", "tables", "inet").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	for _, f := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(f, tablePrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "_", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // that test still runs
		}
		if out, err := exec.Command("nft", "delete", "table", "inet", f).CombinedOutput(); err != nil {
			t.Logf("removing stale table %s: %v: %s", f, err, out)
		}
	}
}

// apiPort is the port of an API address (host:port), 0 if none.
func apiPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0
	}
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

var ssLocalPort = regexp.MustCompile(`:(\d+)$`)

// socketPorts lists the local ports of the TCP and UDP sockets of process
// pid, without skip.
func socketPorts(pid, skip int) (tcp, udp []int, err error) {
	out, err := exec.Command("ss", "-H", "-n", "-a", "-p", "-t", "-u").CombinedOutput()
	if err != nil {
		return nil, nil, fmt.Errorf("ss: %v: %s", err, out)
	}
	owner := fmt.Sprintf("pid=%d,", pid)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(line, owner) {
			continue
		}
		m := ssLocalPort.FindStringSubmatch(f[4])
		if m == nil {
			continue
		}
		port, _ := strconv.Atoi(m[1])
		if port == 0 || port == skip {
			continue
		}
		switch f[0] {
		case "tcp":
			if !slices.Contains(tcp, port) {
				tcp = append(tcp, port)
			}
		case "udp":
			if !slices.Contains(udp, port) {
				udp = append(udp, port)
			}
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	return tcp, udp, nil
}
