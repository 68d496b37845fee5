package p2p

import (
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// FuzzDecodeSwarmKey: swarm keys are files an operator copies between
// machines. Decoding never panics and what decodes is a 32-byte key.
func FuzzDecodeSwarmKey(f *testing.F) {
	k, err := GenerateSwarmKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k)
	f.Add(k[:len(k)-10])
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/base64/\nAAAA\n"))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/bin/\n0123456789abcdef0123456789abcdef"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		psk, err := DecodeSwarmKey(b)
		if err != nil {
			return
		}
		if len(psk) != 32 {
			t.Fatalf("decoded a %d-byte swarm key", len(psk))
		}
	})
}

// FuzzParseBootstrap: bootstrap addresses come from the config file and
// the command line, one per line here. Parsing never panics; what parses
// names a peer for every entry, and no address keeps a /p2p part.
func FuzzParseBootstrap(f *testing.F) {
	f.Add("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	f.Add("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf\n" +
		"/ip6/::1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	f.Add("/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	f.Add("/ip4/127.0.0.1/tcp/4001")
	f.Add("/dns4/example.com/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Add("/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf/p2p-circuit/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		addrs := strings.Split(s, "\n")
		infos, err := ParseBootstrap(addrs)
		if err != nil {
			return
		}
		if len(infos) > len(addrs) {
			t.Fatalf("%d addresses gave %d peers", len(addrs), len(infos))
		}
		for _, ai := range infos {
			if ai.ID == "" || ai.ID.Validate() != nil {
				t.Fatalf("parsed a bootstrap entry with no valid peer ID: %v", ai)
			}
			for _, a := range ai.Addrs {
				for i, c := range a {
					if c.Code() == ma.P_P2P && (i+1 == len(a) || a[i+1].Code() != ma.P_CIRCUIT) {
						t.Fatalf("address %s keeps a /p2p part that is not a relay's", a)
					}
				}
			}
		}
	})
}

func TestParseBootstrapP2PParts(t *testing.T) {
	const relay = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
	const target = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"/ip4/127.0.0.1/tcp/1/p2p/" + relay, true},
		{"/ip4/127.0.0.1/tcp/1/p2p/" + relay + "/p2p-circuit/p2p/" + target, true},
		{"/p2p/" + relay + "/p2p/" + target, false},
		{"/ip4/127.0.0.1/tcp/1/p2p/" + relay + "/p2p/" + target, false},
	} {
		_, err := ParseBootstrap([]string{tc.addr})
		if (err == nil) != tc.ok {
			t.Errorf("ParseBootstrap(%s): err = %v, want ok = %v", tc.addr, err, tc.ok)
		}
	}
}
