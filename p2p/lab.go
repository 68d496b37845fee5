package p2p

import (
	"net"
	"slices"

	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	manet "github.com/multiformats/go-multiaddr/net"
)

// LabSharedSpace is the shared address space of RFC 6598 (100.64.0.0/10),
// the range carriers use between their NAT and their customers' routers.
// Nothing on the internet routes it.
const LabSharedSpace = "100.64.0.0/10"

// EnvLabPublic, set to 1 in a daemon's environment, makes that process
// treat LabSharedSpace as public (see TreatSharedSpaceAsPublic).
//
// LabObservers is the number of peers that must report the same observed
// address before identify's observed-address manager uses it for AutoNAT,
// in a lab process: libp2p asks for 4 distinct observers, a lab has one
// public node.
const LabObservers = 1
const EnvLabPublic = "SHOAL_LAB_PUBLIC_SHARED_SPACE"

// TreatSharedSpaceAsPublic makes libp2p count addresses in LabSharedSpace
// as public, for the whole process. libp2p's NAT machinery (observed
// addresses, AutoNAT, hole punching) only ever works with public
// addresses, and a test network must not use real ones: the NAT lab puts
// its "internet" segment in the shared address space and turns this on in
// its daemons (internal/natlab). It edits go-multiaddr's package-level
// Private4 list, so call it once, before any host is built, and only in a
// lab: on a real network it would make peers try addresses that are not
// reachable. It also lowers observedaddrs.ActivationThresh to
// LabObservers (one public observer instead of libp2p's four).
func TreatSharedSpaceAsPublic() {
	observedaddrs.ActivationThresh = LabObservers
	_, shared, _ := net.ParseCIDR(LabSharedSpace)
	manet.Private4 = slices.DeleteFunc(slices.Clone(manet.Private4), func(n *net.IPNet) bool {
		return n.String() == shared.String()
	})
}
