package market

import "github.com/libp2p/go-libp2p/core/peer"

// tamperOutputs, when set, changes a run's outputs directory before it is
// published: the lying executor of the verification tests, the one
// stand-in for a fault an honest node cannot cause. Only a build with the
// shoal_liar tag sets it (tamper_liar.go; internal/testnet.LiarBinary):
// no config key or flag reaches it, and release builds have it nil.
var tamperOutputs func(dir string, self peer.ID) error
