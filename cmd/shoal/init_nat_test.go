package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
)

// shoal init --bootstrap writes the peers into the config; --profile public
// turns the relay service on.
func TestInitBootstrapAndPublicProfile(t *testing.T) {
	bin := testnet.Binary(t)
	repo := filepath.Join(t.TempDir(), "r")
	boot := []string{
		"/ip4/198.51.100.7/tcp/4280/p2p/12D3KooWLfsV2Fmj2wM7m4Cet1JC3yrzrBdjJwaYHxnF4JxYDUVp",
		"/ip4/198.51.100.7/udp/4280/quic-v1/p2p/12D3KooWLfsV2Fmj2wM7m4Cet1JC3yrzrBdjJwaYHxnF4JxYDUVp",
	}
	out, err := exec.Command(bin, "--repo", repo, "init", "--profile", "public", "--bootstrap", boot[0], "--bootstrap", boot[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	c, err := node.LoadConfig(filepath.Join(repo, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Bootstrap) != 2 || c.Bootstrap[0] != boot[0] || c.Bootstrap[1] != boot[1] {
		t.Fatalf("bootstrap in config = %v, want %v", c.Bootstrap, boot)
	}
	if !c.Relay.Service || c.Swarm.PortMapping {
		t.Fatalf("public profile: relay.service %v, port_mapping %v", c.Relay.Service, c.Swarm.PortMapping)
	}
}
