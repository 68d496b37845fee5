// Command placement is the placement plan as a standalone binary, for the
// local:exec and local:docker runners (or Testground's exec:go builder).
package main

import (
	"github.com/shoalnet/shoal/testground/plans/placement"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(placement.TestCases) }
