package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigProfiles(t *testing.T) {
	def, err := DefaultConfig(ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	if def.API.Addr != DefaultAPIAddr || !strings.Contains(def.Swarm.Listen[0], "/ip4/0.0.0.0/tcp/4280") {
		t.Fatalf("default profile: api %q listen %v", def.API.Addr, def.Swarm.Listen)
	}
	loc, err := DefaultConfig(ProfileLocal)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range loc.Swarm.Listen {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			t.Errorf("local profile listens off loopback: %s", a)
		}
	}
	if loc.API.Addr != "127.0.0.1:0" || len(loc.Bootstrap) != 0 || loc.Discovery.MDNS {
		t.Fatalf("local profile: api %q bootstrap %v mdns %v", loc.API.Addr, loc.Bootstrap, loc.Discovery.MDNS)
	}
	pub, err := DefaultConfig(ProfilePublic)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Relay.Service || !strings.Contains(pub.Swarm.Listen[0], "/ip4/0.0.0.0/tcp/4280") || def.Relay.Service || loc.Relay.Service || def.Swarm.PortMapping {
		t.Fatalf("public profile: relay %v listen %v; default relay %v port mapping %v; local relay %v", pub.Relay.Service, pub.Swarm.Listen, def.Relay.Service, def.Swarm.PortMapping, loc.Relay.Service)
	}
	if _, err := DefaultConfig("cloud"); err == nil || !strings.Contains(err.Error(), `"cloud"`) {
		t.Fatalf("unknown profile error = %v", err)
	}
}

func TestConfigRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	c, _ := DefaultConfig(ProfileLocal)
	c.Capabilities.Labels = map[string]string{"zone": "a"}
	c.Capabilities.Refresh = Duration(30 * time.Second)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Capabilities.Refresh.D() != 30*time.Second || got.Capabilities.Labels["zone"] != "a" {
		t.Fatalf("round trip lost values: %+v", got.Capabilities)
	}

	tests := []struct {
		name, body, want string
	}{
		{"unknown field", `{"swarm":{"listen":["/ip4/127.0.0.1/tcp/0"]},"bogus":1}`, `unknown field "bogus"`},
		{"bad duration", `{"capabilities":{"refresh":"soon"}}`, `invalid duration "soon"`},
		{"not json", `listen = 4`, "is not valid"},
		{"no listen", `{"api":{"addr":"127.0.0.1:0"},"capabilities":{"refresh":"1m","ttl":"5m"}}`, "swarm.listen is empty"},
		{"bad reachability", `{"swarm":{"listen":["/ip4/127.0.0.1/tcp/0"],"reachability":"maybe"},"api":{"addr":"127.0.0.1:0"},"capabilities":{"refresh":"1m","ttl":"5m"}}`, `swarm.reachability: unknown reachability "maybe"`},
		{"bad relay", `{"swarm":{"listen":["/ip4/127.0.0.1/tcp/0"]},"relay":{"static":["/ip4/1.2.3.4/tcp/1"]},"api":{"addr":"127.0.0.1:0"},"capabilities":{"refresh":"1m","ttl":"5m"}}`, "relay.static: invalid bootstrap address"},
		{"bad bootstrap", `{"swarm":{"listen":["/ip4/127.0.0.1/tcp/0"]},"bootstrap":["nope"],"api":{"addr":"127.0.0.1:0"},"capabilities":{"refresh":"1m","ttl":"5m"}}`, "bootstrap: invalid bootstrap address"},
		{"ttl below refresh", `{"swarm":{"listen":["/ip4/127.0.0.1/tcp/0"]},"api":{"addr":"127.0.0.1:0"},"capabilities":{"refresh":"5m","ttl":"1m"}}`, "must exceed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMemoMinRunResolved(t *testing.T) {
	for _, c := range []struct {
		set, want time.Duration
	}{
		{0, DefaultMemoMinRun},
		{-1, 0},
		{time.Second, time.Second},
	} {
		if got := (JobsConfig{MemoMinRun: Duration(c.set)}).memoMinRun(); got != c.want {
			t.Errorf("memo_min_run %v resolves to %v, want %v", c.set, got, c.want)
		}
	}
}
