// Command nat is the NAT plan as a standalone binary, for the local:exec
// runner's NAT topology.
package main

import (
	"github.com/shoalnet/shoal/testground/plans/nat"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(nat.TestCases) }
