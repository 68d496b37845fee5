// Command churn is the churn plan as a standalone binary, for the
// local:exec and local:docker runners.
package main

import (
	"github.com/shoalnet/shoal/testground/plans/churn"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(churn.TestCases) }
