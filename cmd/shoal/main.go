// Command shoal is the Shoal CLI and daemon: `shoal daemon` runs a node;
// every other command talks to a running daemon over its HTTP API.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
)

func main() {
	runWatchdog()   // exits when this process is a container's watchdog
	runWASMWorker() // exits when this process is a wasm worker
	app := newApp()
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ec cli.ExitCoder
		if errors.As(err, &ec) && ec.ExitCode() != 0 {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "shoal",
		Usage:   "a peer-to-peer compute network: run jobs where the data is",
		Version: node.Version,
		Description: `Shoal nodes form a network with no central orchestrator. Start a node with
` + "`shoal init`" + ` then ` + "`shoal daemon`" + `; other commands talk to the running daemon.

Example:
   shoal init --profile local
   shoal daemon --bootstrap /ip4/127.0.0.1/tcp/4280/p2p/12D3KooW...
   shoal nodes --engine wasm`,
		EnableBashCompletion:   true,
		UseShortOptionHandling: true,
		ExitErrHandler:         func(*cli.Context, error) {}, // main prints errors once
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Usage: "repo directory", EnvVars: []string{node.EnvRepo}, Value: node.DefaultRepoPath(), DefaultText: "~/.shoal"},
			&cli.StringFlag{Name: "api", Usage: "daemon API address (host:port or multiaddr); default: read from $REPO/api. For `daemon`, the address to listen on", EnvVars: []string{"SHOAL_API"}},
			&cli.StringFlag{Name: "api-token-file", Usage: "file holding the API token of the --api daemon (env SHOAL_API_TOKEN holds the token itself); default: $REPO/api.token", TakesFile: true},
			&cli.StringFlag{Name: "api-token", Usage: "deprecated (visible in `ps`): use $SHOAL_API_TOKEN or --api-token-file"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", EnvVars: []string{"SHOAL_LOG_LEVEL"}},
		},
		Before: func(c *cli.Context) error { return setupLogging(c.String("log-level")) },
		Commands: append([]*cli.Command{
			initCmd(),
			daemonCmd(),
			idCmd(),
			peersCmd(),
			doctorCmd(),
			nodesCmd(),
			versionCmd(),
			swarmKeyCmd(),
			runCmd(),
			jobCmd(),
			workflowCmd(),
			orgCmd(),
			policyCmd(),
			dashboardCmd(),
		}, contentCmds()...),
	}
}

func setupLogging(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
	return nil
}
