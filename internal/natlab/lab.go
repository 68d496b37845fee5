// Package natlab is the test harness over internal/natnet's NAT topology
// for multi-node tests, the NAT demo and benchmarks: New builds a
// topology for one test and removes it at the test's end, whatever its
// outcome; nodes.go starts daemons in its namespaces.
//
// It needs root, ip and nft; New skips the test without them. It must
// not be imported by non-test code.
package natlab

import (
	"testing"

	"github.com/shoalnet/shoal/internal/natnet"
)

// NAT is a site router's mapping behaviour (natnet.NAT).
type NAT = natnet.NAT

// The NAT behaviours.
const (
	EndpointIndependent = natnet.EndpointIndependent
	Symmetric           = natnet.Symmetric
)

// Site is one NAT'd site (natnet.Site).
type Site = natnet.Site

// Lab is a topology built for one test.
type Lab struct{ *natnet.Lab }

// Exec is the command prefix that runs a program in namespace ns.
func Exec(ns string) []string { return natnet.Exec(ns) }

// New builds a public segment and one site per entry of nats, and
// removes them at the end of the test. It skips the test where a lab
// cannot be built.
func New(t testing.TB, nats ...NAT) *Lab {
	t.Helper()
	if why := natnet.Available(); why != "" {
		t.Skip(why + "; skipping")
	}
	natnet.RemoveStale(t.Logf)
	nl, err := natnet.Build(nats...)
	if err != nil {
		t.Fatalf("building the NAT lab: %v", err)
	}
	l := &Lab{nl}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("removing the NAT lab: %v", err)
		}
	})
	return l
}
