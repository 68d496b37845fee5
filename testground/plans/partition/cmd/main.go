// Command partition is the partition plan as a standalone binary, for the
// local:docker runner.
package main

import (
	"github.com/shoalnet/shoal/testground/plans/partition"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(partition.TestCases) }
