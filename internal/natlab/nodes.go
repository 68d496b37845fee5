package natlab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
	"github.com/shoalnet/shoal/p2p"
)

// SwarmPort is the port every lab daemon listens on (TCP and QUIC), in
// its own namespace.
const SwarmPort = natnet.SwarmPort

// StartPublic starts the public node: bootstrap and relay (relay.service
// on, as in the public profile) in the public segment.
func (l *Lab) StartPublic(t testing.TB, edit func(*node.Config)) *testnet.Daemon {
	t.Helper()
	return l.start(t, l.Public, l.PublicIP, nil, func(c *node.Config) {
		natnet.ConfigurePublic(c)
		if edit != nil {
			edit(c)
		}
	})
}

// StartSite starts a node on site i's host, bootstrapped to boot.
func (l *Lab) StartSite(t testing.TB, i int, boot []string, edit func(*node.Config)) *testnet.Daemon {
	t.Helper()
	s := l.Sites[i]
	return l.start(t, s.Host, s.HostIP, boot, func(c *node.Config) {
		natnet.ConfigureSite(c)
		if edit != nil {
			edit(c)
		}
	})
}

func (l *Lab) start(t testing.TB, ns, ip string, boot []string, edit func(*node.Config)) *testnet.Daemon {
	d := testnet.Start(t, testnet.Options{
		Exec:      Exec(ns),
		Env:       []string{p2p.EnvLabPublic + "=1"},
		Bootstrap: boot,
		Configure: testnet.EditConfig(func(c *node.Config) {
			c.Swarm.Listen = []string{
				fmt.Sprintf("/ip4/%s/tcp/%d", ip, SwarmPort),
				fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ip, SwarmPort),
			}
			natnet.ConfigureNode(c)
			if edit != nil {
				edit(c)
			}
		}),
	})
	return d
}

// Addr is d's TCP swarm address in namespace terms, for bootstrapping.
func Addr(ip string, d *testnet.Daemon) string {
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", ip, SwarmPort, d.ID)
}

// Addrs are d's TCP and QUIC swarm addresses, for bootstrapping: with
// both, peers learn both their observed TCP and QUIC addresses.
func Addrs(ip string, d *testnet.Daemon) []string {
	return []string{Addr(ip, d), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1/p2p/%s", ip, SwarmPort, d.ID)}
}

// Doctor runs `shoal doctor --json` against d.
func Doctor(ctx context.Context, d *testnet.Daemon) (node.DoctorReport, error) {
	var r node.DoctorReport
	out, err := d.RunContext(ctx, nil, "doctor", "--json")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("doctor output: %w: %s", err, out)
	}
	return r, nil
}

// Peers runs `shoal peers --json` against d.
func Peers(ctx context.Context, d *testnet.Daemon) ([]api.Peer, error) {
	var ps []api.Peer
	out, err := d.RunContext(ctx, nil, "peers", "--json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("peers output: %w: %s", err, out)
	}
	return ps, nil
}

// ConnTo is how d is connected to peer id ("direct", "relayed", "none").
func ConnTo(ctx context.Context, d *testnet.Daemon, id string) (string, error) {
	ps, err := Peers(ctx, d)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.ID == id {
			return p.Connection, nil
		}
	}
	return p2p.ConnNone, nil
}

// Until polls cond (a daemon's state, seen through its CLI) with backoff
// until it holds or ctx ends; the last error says what was still wrong.
// Another process' state has no event to wait on from here.
func Until(ctx context.Context, what string, cond func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// WaitRelayed waits until d is private with a relay reservation, that is
// advertises a /p2p-circuit address.
func WaitRelayed(ctx context.Context, d *testnet.Daemon) error {
	return Until(ctx, "waiting for a relay reservation", func(ctx context.Context) error {
		r, err := Doctor(ctx, d)
		if err != nil {
			return err
		}
		for _, a := range r.Advertised {
			if strings.Contains(a, "/p2p-circuit") {
				return nil
			}
		}
		return fmt.Errorf("reachability %s (%s), advertised %v", r.Reachability, r.Why, r.Advertised)
	})
}

// WaitFound waits until d finds peer id's capability record in the DHT
// with a /p2p-circuit address: how a node learns to reach a NAT'd one.
func WaitFound(ctx context.Context, d *testnet.Daemon, id string) error {
	return Until(ctx, "waiting for "+id+" in the DHT", func(ctx context.Context) error {
		out, err := d.RunContext(ctx, nil, "nodes", "--json", "--timeout", "5s")
		if err != nil {
			return err
		}
		var res []p2p.Capabilities
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			var wrapped api.NodesResponse
			if err2 := json.Unmarshal([]byte(out), &wrapped); err2 != nil {
				return fmt.Errorf("nodes output: %w: %s", err, out)
			}
			for _, c := range wrapped.Nodes {
				res = append(res, *c)
			}
		}
		for _, c := range res {
			if c.Peer.String() != id {
				continue
			}
			for _, a := range c.Addrs {
				if strings.Contains(a, "/p2p-circuit") {
					return nil
				}
			}
			return fmt.Errorf("record of %s has no relay address: %v", id, c.Addrs)
		}
		return fmt.Errorf("%s not among %d nodes", id, len(res))
	})
}
