// Command discovery is the discovery plan as a standalone binary, for the
// local:exec and local:docker runners.
package main

import (
	"github.com/shoalnet/shoal/testground/plans/discovery"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(discovery.TestCases) }
