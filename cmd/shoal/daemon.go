package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
	"github.com/shoalnet/shoal/p2p"
)

func daemonCmd() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run a node: join the network, serve the HTTP API",
		Description: `Runs the node of --repo until SIGINT or SIGTERM (graceful shutdown in under 5 s).
It joins the network through the bootstrap peers of the config and of --bootstrap,
publishes its capability record in the DHT, and serves the HTTP API on the
config's api.addr (or --api), writing that address into $REPO/api for clients.
Every API request must carry the token of $REPO/api.token (0600, created here
if missing), which the CLI reads from the repo.

Example:
   shoal --repo /tmp/n2 daemon --bootstrap /ip4/127.0.0.1/tcp/40123/p2p/12D3KooW...`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "bootstrap peer multiaddr ending in /p2p/PEERID (repeatable)"},
			&cli.BoolFlag{Name: "mdns", Usage: "discover peers on the local network with mDNS (off by default)"},
		},
		Action: runDaemon,
	}
}

func runDaemon(c *cli.Context) error {
	repoDir := c.String("repo")
	if c.IsSet("api-token") || c.IsSet("api-token-file") {
		return fmt.Errorf("the daemon takes its API token from %s (0600), not from --api-token or --api-token-file: write the token there, or delete the file for a new one", node.APITokenPath(repoDir))
	}
	repo, err := node.OpenRepo(repoDir)
	if err != nil {
		return err
	}
	unlock, err := repo.Lock()
	if err != nil {
		return err
	}
	defer unlock()

	cfg := repo.Config
	if os.Getenv(p2p.EnvLabPublic) == "1" {
		// Only the NAT lab (internal/natlab) sets this: its "internet" is
		// in the shared address space, which libp2p counts as private.
		p2p.TreatSharedSpaceAsPublic()
		fmt.Fprintf(os.Stderr, "NAT lab: %s counts as public in this process\n", p2p.LabSharedSpace)
	}
	if c.Bool("mdns") {
		cfg.Discovery.MDNS = true
	}
	apiAddr := cfg.API.Addr
	if a := c.String("api"); a != "" {
		apiAddr = a
	}
	token, err := repo.EnsureAPIToken()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dopts, err := dockerOptions()
	if err != nil {
		return err
	}
	n, err := node.New(ctx, cfg, node.WithRepo(repo), node.WithBootstrap(c.StringSlice("bootstrap")...), node.WithDockerOptions(dopts...), node.WithWASMWorker(wasmWorker()))
	if err != nil {
		return err
	}
	srv, err := api.Listen(n, apiAddr, token)
	if err != nil {
		n.Close()
		return err
	}
	apiFile := filepath.Join(repoDir, node.APIFile)
	if err := writeAPIFile(apiFile, srv.Addr()); err != nil {
		srv.Close(context.Background())
		n.Close()
		return err
	}
	defer os.Remove(apiFile)

	fmt.Printf("peer ID: %s\n", n.ID())
	for _, a := range n.Host.Addrs() {
		fmt.Printf("swarm listening on %s/p2p/%s\n", a, n.ID())
	}
	if n.Private() {
		fmt.Println("private network: swarm.key in use (TCP only)")
	}
	fmt.Printf("API server listening on http://%s\n", srv.Addr())
	fmt.Println("Daemon is ready")

	<-ctx.Done()
	stop()
	fmt.Println("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), node.DefaultShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_ = srv.Close(sctx)
		done <- n.Close()
	}()
	select {
	case err := <-done:
		return err
	case <-sctx.Done():
		return fmt.Errorf("shutdown took longer than %s", node.DefaultShutdownTimeout)
	}
}

// writeAPIFile records the API address as a multiaddr, like kubo.
func writeAPIFile(path string, a net.Addr) error {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("API address %s is not TCP", a)
	}
	proto := "ip4"
	if tcp.IP.To4() == nil {
		proto = "ip6"
	}
	m := "/" + proto + "/" + tcp.IP.String() + "/tcp/" + strconv.Itoa(tcp.Port)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(m+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
