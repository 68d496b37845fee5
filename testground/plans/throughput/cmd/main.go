// Command throughput is the throughput plan as a standalone binary, for
// the local:exec and local:docker runners.
package main

import (
	"github.com/shoalnet/shoal/testground/plans/throughput"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(throughput.TestCases) }
