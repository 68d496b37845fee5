// Command testplan is the runner tests' plan as a standalone binary.
package main

import (
	"github.com/shoalnet/shoal/testground/runner/internal/testplan"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

func main() { run.Invoke(testplan.TestCases) }
