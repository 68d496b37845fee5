package runner

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// ErrNoDocker is returned by the local:docker runner when no Docker Engine
// answers.
var ErrNoDocker = errors.New("no Docker Engine answers")

// LabelRun marks everything the local:docker runner creates, with the run
// ID as value.
const LabelRun = "shoal.sim.run"

// Limits of the local:docker runner.
const (
	// MaxDockerInstances: data networks are /24s and instances get .10 on.
	MaxDockerInstances = 240
	// dockerMemory bounds each container.
	dockerMemory = 1 << 30
	// dockerCleanup bounds the removal of what a run created.
	dockerCleanup = 2 * time.Minute
)

// DockerAvailable reports whether a Docker Engine answers a ping.
func DockerAvailable(ctx context.Context) error {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("%w at %s: %v", ErrNoDocker, cli.DaemonHost(), err)
	}
	return nil
}

// dockerBackend runs every instance as a container of an image holding the
// static plan binary FROM scratch. Each container is on three networks the
// runner creates: a control network, where the sync service listens on
// the bridge's gateway address, and two data networks the nodes announce
// addresses on. A partition disconnects side A from the second data
// network and side B from the first; a heal reconnects them with the same
// addresses. The control network is never touched.
type dockerBackend struct {
	rs  *runState
	cli *client.Client
	srv *http.Server

	image    string
	ctl      string   // control network name
	data     []string // data network names
	subnets  []netip.Prefix
	ids      []string // container IDs by instance index
	split    [][2]int // (instance, data network) disconnected by a partition
	mu       gosync.Mutex
	waitDone gosync.WaitGroup
}

func (b *dockerBackend) start(ctx context.Context, rs *runState) (<-chan struct{}, error) {
	b.rs = rs
	if len(rs.instances) > MaxDockerInstances {
		return nil, fmt.Errorf("local:docker: at most %d instances, not %d", MaxDockerInstances, len(rs.instances))
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("local:docker: %w: %v", ErrNoDocker, err)
	}
	b.cli = cli
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("local:docker: %w at %s: %v", ErrNoDocker, cli.DaemonHost(), err)
	}
	bin, err := planBinary(ctx, rs)
	if err != nil {
		return nil, err
	}
	if err := b.buildImage(ctx, bin); err != nil {
		return nil, err
	}
	if err := b.createNetworks(ctx); err != nil {
		return nil, err
	}
	gw, err := b.gateway(ctx, b.ctl)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("local:docker: sync service on the control network's gateway %s: %w", gw, err)
	}
	b.srv = &http.Server{Handler: tgsync.Handler(rs.svc, rs.log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(l) }()
	port := l.Addr().(*net.TCPAddr).Port
	rs.logf("local:docker: image %s, networks %s %s, sync service on %s", b.image, b.ctl, strings.Join(b.data, " "), l.Addr())

	for i, in := range rs.instances {
		id, err := b.createContainer(ctx, i, in, gw, port)
		if err != nil {
			return nil, err
		}
		b.ids = append(b.ids, id)
	}
	done := make(chan struct{})
	for i, id := range b.ids {
		if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return nil, fmt.Errorf("local:docker: start instance %d: %w", i, err)
		}
		wr := cli.ContainerWait(context.WithoutCancel(ctx), id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		b.waitDone.Add(1)
		go func() {
			defer b.waitDone.Done()
			select {
			case <-wr.Result:
			case <-wr.Error:
			}
		}()
	}
	rs.logf("local:docker: %d containers started", len(b.ids))
	go func() {
		b.waitDone.Wait()
		close(done)
	}()
	return done, nil
}

// buildImage builds FROM scratch an image holding the plan binary.
func (b *dockerBackend) buildImage(ctx context.Context, bin string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY plan /plan\nENTRYPOINT [\"/plan\"]\n")},
		{"plan", 0o755, data},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	b.image = fmt.Sprintf("shoal-sim/%s:%s", b.rs.plan.Name, b.rs.runID)
	resp, err := b.cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags: []string{b.image}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
		Version: build.BuilderV1, Labels: map[string]string{LabelRun: b.rs.runID},
	})
	if err != nil {
		return fmt.Errorf("local:docker: build %s: %w", b.image, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("local:docker: build %s: %w", b.image, err)
		}
		if m.Error != "" {
			return fmt.Errorf("local:docker: build %s: %s", b.image, m.Error)
		}
	}
}

// createNetworks creates the control network (addresses chosen by Docker)
// and two data networks on random 10.x.y.0/24 subnets (chosen here, so
// containers can get fixed addresses back after a partition).
func (b *dockerBackend) createNetworks(ctx context.Context) error {
	labels := map[string]string{LabelRun: b.rs.runID}
	b.ctl = "shoal-sim-" + b.rs.runID + "-ctl"
	if _, err := b.cli.NetworkCreate(ctx, b.ctl, client.NetworkCreateOptions{Driver: "bridge", Labels: labels}); err != nil {
		return fmt.Errorf("local:docker: create network %s: %w", b.ctl, err)
	}
	for k := 0; k < 2; k++ {
		name := fmt.Sprintf("shoal-sim-%s-data%d", b.rs.runID, k+1)
		var last error
		for try := 0; try < 20; try++ {
			sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rand.IntN(256)), byte(rand.IntN(256)), 0}), 24)
			_, err := b.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
				Driver: "bridge", Internal: true, Labels: labels,
				IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub}}},
			})
			if err == nil {
				b.data = append(b.data, name)
				b.subnets = append(b.subnets, sub)
				last = nil
				break
			}
			last = err
		}
		if last != nil {
			return fmt.Errorf("local:docker: create network %s: %w", name, last)
		}
	}
	return nil
}

func (b *dockerBackend) gateway(ctx context.Context, name string) (netip.Addr, error) {
	res, err := b.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("local:docker: inspect %s: %w", name, err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("local:docker: network %s has no IPv4 gateway", name)
}

// dataIP is instance i's fixed address on data network k.
func (b *dockerBackend) dataIP(k, i int) netip.Addr {
	a := b.subnets[k].Addr().As4()
	a[3] = byte(10 + i)
	return netip.AddrFrom4(a)
}

func (b *dockerBackend) createContainer(ctx context.Context, i int, in *Instance, gw netip.Addr, port int) (string, error) {
	env := in.Env
	env.TestOutputsPath = "/outputs"
	env.TestTempPath = "/tmp/work"
	env.TestSubnet = b.subnets[0].String()
	var subnets []string
	for _, s := range b.subnets {
		subnets = append(subnets, s.String())
	}
	vars := append(env.Env(),
		runtime.EnvSyncServiceHost+"="+gw.String(),
		runtime.EnvSyncServicePort+"="+strconv.Itoa(port),
		"SHOAL_SIM_DATA_SUBNETS="+strings.Join(subnets, ","),
		"HOME=/tmp", "TMPDIR=/tmp",
	)
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return "", err
	}
	res, err := b.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: fmt.Sprintf("shoal-sim-%s-%d", b.rs.runID, i),
		Config: &container.Config{
			Image:  b.image,
			Env:    vars,
			User:   fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
			Labels: map[string]string{LabelRun: b.rs.runID, "shoal.sim.instance": strconv.Itoa(i)},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(b.ctl),
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: in.Dir, Target: "/outputs"}},
			Tmpfs:       map[string]string{"/tmp": "rw,mode=1777"},
			CapDrop:     []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges"},
			Resources:   container.Resources{Memory: dockerMemory, MemorySwap: dockerMemory},
		},
	})
	if err != nil {
		return "", fmt.Errorf("local:docker: create instance %d: %w", i, err)
	}
	for k, name := range b.data {
		if err := b.connect(ctx, name, res.ID, b.dataIP(k, i)); err != nil {
			return res.ID, fmt.Errorf("local:docker: instance %d: %w", i, err)
		}
	}
	return res.ID, nil
}

func (b *dockerBackend) connect(ctx context.Context, netName, id string, ip netip.Addr) error {
	_, err := b.cli.NetworkConnect(ctx, netName, client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}}})
	if err != nil {
		return fmt.Errorf("connect to %s as %s: %w", netName, ip, err)
	}
	return nil
}

func (b *dockerBackend) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace+10*time.Second)
	defer cancel()
	for _, id := range b.ids {
		_, _ = b.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGTERM"})
	}
	time.AfterFunc(StopGrace, func() {
		kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range b.ids {
			_, _ = b.cli.ContainerKill(kctx, id, client.ContainerKillOptions{Signal: "SIGKILL"})
		}
	})
}

func (b *dockerBackend) control(ctx context.Context, req netctl.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch req.Op {
	case netctl.OpKill:
		var errs []error
		for _, i := range req.Instances {
			if _, err := b.cli.ContainerKill(ctx, b.ids[i], client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
				errs = append(errs, fmt.Errorf("kill instance %d: %w", i, err))
			}
		}
		return errors.Join(errs...)
	case netctl.OpPartition:
		if len(req.Groups) != 2 {
			return fmt.Errorf("local:docker splits the network in two sides, not %d: %w", len(req.Groups), netctl.ErrUnsupported)
		}
		if len(b.split) > 0 {
			return errors.New("the network is already split; heal it first")
		}
		sideB := map[int]bool{}
		for _, i := range req.Groups[1] {
			sideB[i] = true
		}
		// Side A keeps data network 1, side B keeps data network 2.
		for i, id := range b.ids {
			k := 1
			if sideB[i] {
				k = 0
			}
			if _, err := b.cli.NetworkDisconnect(ctx, b.data[k], client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
				return fmt.Errorf("disconnect instance %d from %s: %w", i, b.data[k], err)
			}
			b.split = append(b.split, [2]int{i, k})
		}
	case netctl.OpHeal:
		for _, s := range b.split {
			if err := b.connect(ctx, b.data[s[1]], b.ids[s[0]], b.dataIP(s[1], s[0])); err != nil {
				return fmt.Errorf("heal instance %d: %w", s[0], err)
			}
		}
		b.split = nil
	}
	return nil
}

// close saves each container's output, then removes the containers, the
// networks and the image.
func (b *dockerBackend) close() error {
	if b.cli == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanup)
	defer cancel()
	var errs []error
	for i, id := range b.ids {
		b.saveLogs(ctx, id, b.rs.instances[i].Dir)
		if _, err := b.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container of instance %d: %w", i, err))
		}
	}
	if b.srv != nil {
		_ = b.srv.Close()
	}
	for _, n := range append([]string{b.ctl}, b.data...) {
		if n == "" {
			continue
		}
		if _, err := b.cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n, err))
		}
	}
	if b.image != "" {
		if _, err := b.cli.ImageRemove(ctx, b.image, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", b.image, err))
		}
	}
	errs = append(errs, b.cli.Close())
	return errors.Join(errs...)
}

func (b *dockerBackend) saveLogs(ctx context.Context, id, dir string) {
	rc, err := b.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return
	}
	defer rc.Close()
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return
	}
	defer errf.Close()
	_, _ = stdcopy.StdCopy(out, errf, rc)
}
