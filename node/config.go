package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/p2p"
)

// Profiles for `shoal init --profile`.
const (
	// ProfileDefault listens on all interfaces, TCP and QUIC on port 4280,
	// like an ordinary P2P daemon.
	ProfileDefault = "default"
	// ProfileLocal listens on 127.0.0.1 with OS-chosen ports and has no
	// bootstrap peers: for tests, the demo and simulations.
	ProfileLocal = "local"
	// ProfilePublic is for a node with a public address: like
	// ProfileDefault (all interfaces, port 4280) with the circuit relay
	// service on, so NAT'd peers can reach each other through it.
	ProfilePublic = "public"
)

// Defaults named once, used by DefaultConfig.
const (
	DefaultSwarmPort  = 4280
	DefaultAPIAddr    = "127.0.0.1:5280"
	DefaultCapRefresh = time.Minute
	DefaultCapTTL     = 5 * time.Minute
	// DefaultFindProvidersTimeout bounds the wait for a provider of a CID.
	DefaultFindProvidersTimeout = 30 * time.Second
	// DefaultReprovideInterval is how often pinned roots are provided again.
	DefaultReprovideInterval = 12 * time.Hour
	// DefaultShutdownTimeout bounds a graceful shutdown.
	DefaultShutdownTimeout = 5 * time.Second
	// DefaultMaxInputBytes is jobs.max_input_bytes when unset: 16 GiB of
	// inputs per job, so that content a stranger names cannot fill the
	// executor's disk.
	DefaultMaxInputBytes = 16 << 30
	// DefaultMaxOutputBytes is jobs.max_output_bytes when unset: 16 GiB
	// per fetch, so that an executor's outputs cannot fill the requester's
	// disk.
	DefaultMaxOutputBytes = 16 << 30
	// DefaultMemoMinRun is jobs.memo_min_run when unset. On the 5-node
	// benchmark of tiny jobs, publishing every run's record was about a
	// third of the network's CPU per job; a job this short is cheaper to
	// run again than to reuse.
	DefaultMemoMinRun = 100 * time.Millisecond
)

// memoMinRun is jobs.memo_min_run resolved for the market: 0 publishes
// every run.
func (j JobsConfig) memoMinRun() time.Duration {
	switch d := j.MemoMinRun.D(); {
	case d < 0:
		return 0
	case d == 0:
		return DefaultMemoMinRun
	default:
		return d
	}
}

// InputLimit is jobs.max_input_bytes resolved: the bound in bytes, 0 for
// no limit.
func (j JobsConfig) InputLimit() int64 { return resolveLimit(j.MaxInputBytes, DefaultMaxInputBytes) }

// OutputLimit is jobs.max_output_bytes resolved: the bound in bytes, 0
// for no limit.
func (j JobsConfig) OutputLimit() int64 { return resolveLimit(j.MaxOutputBytes, DefaultMaxOutputBytes) }

func resolveLimit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Config is the node's configuration, stored as JSON in $REPO/config.
type Config struct {
	// Identity holds the peer ID for reference; the key is in $REPO/identity.key.
	Identity IdentityConfig `json:"identity"`
	Swarm    SwarmConfig    `json:"swarm"`
	API      APIConfig      `json:"api"`
	// Bootstrap peers as multiaddrs ending in /p2p/PEERID.
	Bootstrap []string `json:"bootstrap"`
	// Relay configures circuit relay v2 (both roles).
	Relay        RelayConfig        `json:"relay,omitzero"`
	Discovery    DiscoveryConfig    `json:"discovery"`
	Capabilities CapabilitiesConfig `json:"capabilities"`
	Content      ContentConfig      `json:"content"`
	Jobs         JobsConfig         `json:"jobs"`
	// WASM configures the wasm engine.
	WASM WASMConfig `json:"wasm,omitzero"`
	// Policy is the admission policy (docs/security.md); the zero value
	// admits every job the node can run, as before it existed.
	Policy policy.Policy `json:"policy,omitzero"`
	// Orgs are the orgs this node trusts and its deny-list (orgs.go).
	Orgs OrgsConfig `json:"orgs,omitzero"`
	// Inputs configures url and s3 inputs and the publishers (remote.go).
	Inputs InputsConfig `json:"inputs,omitzero"`
}

// InputsConfig configures what this node downloads for jobs (url and s3
// inputs) and where it publishes their outputs (s3, remote kubo). The
// bounds of jobs.max_input_bytes apply to downloads too.
type InputsConfig struct {
	// AllowPrivate lets downloads, S3 endpoints and publish targets that
	// jobs name reach loopback, private and link-local addresses. Off by
	// default, so a job cannot make this node probe its own network.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// S3Endpoint is the S3 service used when a job names none, and the
	// only one this node's credentials (AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, or the shared credentials file) are sent to;
	// "" means AWS (https://s3.amazonaws.com).
	S3Endpoint string `json:"s3_endpoint,omitempty"`
	// S3Region is the default signing region.
	S3Region string `json:"s3_region,omitempty"`
	// DownloadTimeout bounds one download (0: 10m).
	DownloadTimeout Duration `json:"download_timeout,omitempty"`
}

// WASMConfig configures the wasm engine.
type WASMConfig struct {
	// Workers is how many worker processes run wasm modules (each one job
	// at a time, killed at the job's timeout or cancel and replaced): 0
	// means one per job slot, -1 runs modules in the daemon's process
	// instead (slower on loops, see docs/rationale.md). A daemon built
	// without the worker command (a test binary) runs them in process.
	Workers int `json:"workers,omitempty"`
	// Nice is the nice value of the worker processes, 1 (a little below
	// the daemon) to 19 (only what the machine leaves idle); 0, the
	// default, runs them at the daemon's own priority. The daemon, its
	// API and its gossip then keep their CPU share while modules spin.
	Nice int `json:"nice,omitempty"`
}

// JobsConfig configures this node as an executor and a requester.
type JobsConfig struct {
	// Slots is how many jobs run at once; 0 means one per CPU.
	Slots int `json:"slots,omitempty"`
	// QueueLimit is how many accepted jobs may wait for a slot; 0 means
	// the default (10000).
	QueueLimit int `json:"queue_limit,omitempty"`
	// MaxInputBytes bounds the inputs of a job this node runs, together:
	// bids are refused for content whose recorded size is larger, and the
	// fetch stops as soon as the bytes received pass it (the job then
	// fails with input_too_large). 0 means DefaultMaxInputBytes (16 GiB);
	// -1 means no limit.
	MaxInputBytes int64 `json:"max_input_bytes,omitempty"`
	// MaxOutputBytes bounds what this node fetches for its user through
	// the API (`shoal fetch`, `shoal get`, `shoal job get` of a job's
	// outputs): the fetch stops as soon as the bytes received pass it.
	// 0 means DefaultMaxOutputBytes (16 GiB); -1 means no limit.
	MaxOutputBytes int64 `json:"max_output_bytes,omitempty"`
	// BidWindow bounds how long a requester collects bids; 0: 250ms.
	BidWindow Duration `json:"bid_window,omitempty"`
	// DisableDocker keeps the docker engine off even when an Engine runs.
	DisableDocker bool `json:"disable_docker,omitempty"`
	// DisableMemo stops this node publishing receipt records of the runs
	// it executes and looking records up before announcing its jobs
	// (docs/protocol.md §9); false (the default): both on. The DHT
	// validator of receipt records stays registered either way.
	DisableMemo bool `json:"disable_memo,omitempty"`
	// MemoMinRun: this node does not publish the receipt record of a run
	// shorter than this (it keeps it in its memo cache, so its own
	// requests still reuse it): publishing (a DHT PutValue and a Provide)
	// costs the network more than running such a job again. 0 means
	// DefaultMemoMinRun (100ms); negative: every run is published.
	MemoMinRun Duration `json:"memo_min_run,omitempty"`
	// MinReputation, when set, is the lowest reputation score of an
	// executor this node awards its jobs to (bidding.Reputation.Score:
	// +1 a completed run, +2 an agreement, -5 a failure or timeout, -100
	// a disagreement); bids of executors below it are ignored. Unset: no
	// bound (a negative score still ranks last).
	MinReputation *int `json:"min_reputation,omitempty"`
	// RefuseDisagreementDays, when more than 0, ignores the bids of
	// executors whose receipt a verified job of this node outvoted within
	// that many days. 0 (the default): none refused for it.
	RefuseDisagreementDays int `json:"refuse_disagreement_days,omitempty"`
}

// ContentConfig configures the content layer.
type ContentConfig struct {
	// FindProvidersTimeout bounds the wait for a provider of a CID that is
	// not local.
	FindProvidersTimeout Duration `json:"find_providers_timeout"`
	// ReprovideInterval is how often pinned roots are provided again.
	ReprovideInterval Duration `json:"reprovide_interval"`
}

// IdentityConfig records who this repo is.
type IdentityConfig struct {
	PeerID string `json:"peer_id"`
}

// SwarmConfig configures the libp2p host.
type SwarmConfig struct {
	Listen    []string `json:"listen"`
	Announce  []string `json:"announce,omitempty"`
	ConnLow   int      `json:"conn_low"`
	ConnHigh  int      `json:"conn_high"`
	ConnGrace Duration `json:"conn_grace"`
	// PortMapping asks the LAN's router for a port with UPnP / NAT-PMP.
	// Off by default.
	PortMapping bool `json:"port_mapping,omitempty"`
	// Reachability overrides AutoNAT: "" (AutoNAT decides, the default),
	// "public" or "private".
	Reachability string `json:"reachability,omitempty"`
}

// RelayConfig configures circuit relay v2.
type RelayConfig struct {
	// Service offers the relay service to other peers once AutoNAT finds
	// this node publicly reachable, with libp2p's limits (128 KiB and 2
	// min per circuit, 128 reservations). Off by default; on in the
	// public profile. A relay carries only control messages for Shoal:
	// bitswap never runs over a relayed connection.
	Service bool `json:"service,omitempty"`
	// Static are relays (multiaddrs ending in /p2p/PEERID) a private node
	// reserves a slot on; empty: it picks relays among its peers.
	Static []string `json:"static,omitempty"`
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	// Addr is host:port; port 0 picks a free port.
	Addr string `json:"addr"`
	// Token is read from configs written by older versions only: the API
	// token now lives in $REPO/api.token (0600, see Repo.EnsureAPIToken),
	// since the config is not secret. A daemon that finds one here removes
	// it and writes a new token to the file.
	Token string `json:"token,omitempty"`
}

// DiscoveryConfig switches local discovery mechanisms.
type DiscoveryConfig struct {
	MDNS bool `json:"mdns"`
}

// CapabilitiesConfig is what the node says about itself in its record.
type CapabilitiesConfig struct {
	Labels map[string]string `json:"labels,omitempty"`
	// CPU and Memory offered to jobs; 0 means all the machine has.
	CPU     float64  `json:"cpu,omitempty"`
	Memory  int64    `json:"memory,omitempty"`
	Refresh Duration `json:"refresh"`
	TTL     Duration `json:"ttl"`
}

// DefaultConfig returns the configuration of profile (ProfileDefault,
// ProfilePublic or ProfileLocal).
func DefaultConfig(profile string) (*Config, error) {
	c := &Config{
		API:       APIConfig{Addr: DefaultAPIAddr},
		Bootstrap: []string{},
		Swarm: SwarmConfig{
			ConnLow:   64,
			ConnHigh:  192,
			ConnGrace: Duration(20 * time.Second),
		},
		Capabilities: CapabilitiesConfig{
			Refresh: Duration(DefaultCapRefresh),
			TTL:     Duration(DefaultCapTTL),
		},
		Content: ContentConfig{
			FindProvidersTimeout: Duration(DefaultFindProvidersTimeout),
			ReprovideInterval:    Duration(DefaultReprovideInterval),
		},
	}
	switch profile {
	case ProfileDefault, "", ProfilePublic:
		c.Relay.Service = profile == ProfilePublic
		c.Swarm.Listen = []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultSwarmPort),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultSwarmPort),
			fmt.Sprintf("/ip6/::/tcp/%d", DefaultSwarmPort),
			fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultSwarmPort),
		}
	case ProfileLocal:
		c.Swarm.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
		c.API.Addr = "127.0.0.1:0"
	default:
		return nil, fmt.Errorf("unknown profile %q (choose %q, %q or %q)", profile, ProfileDefault, ProfilePublic, ProfileLocal)
	}
	return c, nil
}

// Validate checks values a daemon cannot start with.
func (c *Config) Validate() error {
	if len(c.Swarm.Listen) == 0 {
		return errors.New("config: swarm.listen is empty: the node would not listen anywhere")
	}
	if c.Swarm.ConnHigh < c.Swarm.ConnLow {
		return fmt.Errorf("config: swarm.conn_high (%d) is below swarm.conn_low (%d)", c.Swarm.ConnHigh, c.Swarm.ConnLow)
	}
	if err := p2p.ValidateReachability(c.Swarm.Reachability); err != nil {
		return fmt.Errorf("config: swarm.reachability: %w", err)
	}
	if _, err := p2p.ParseBootstrap(c.Relay.Static); err != nil {
		return fmt.Errorf("config: relay.static: %w", err)
	}
	if _, err := p2p.ParseBootstrap(c.Bootstrap); err != nil {
		return fmt.Errorf("config: bootstrap: %w", err)
	}
	if c.API.Addr == "" {
		return errors.New("config: api.addr is empty")
	}
	if c.Capabilities.TTL.D() <= c.Capabilities.Refresh.D() {
		return fmt.Errorf("config: capabilities.ttl (%s) must exceed capabilities.refresh (%s)", c.Capabilities.TTL, c.Capabilities.Refresh)
	}
	if c.Jobs.MaxInputBytes < -1 {
		return fmt.Errorf("config: jobs.max_input_bytes is %d: use a size in bytes, 0 for the default (%d) or -1 for no limit", c.Jobs.MaxInputBytes, int64(DefaultMaxInputBytes))
	}
	if c.Jobs.RefuseDisagreementDays < 0 || c.Jobs.RefuseDisagreementDays > 3650 {
		return fmt.Errorf("config: jobs.refuse_disagreement_days is %d: use 0 (off) to 3650 days", c.Jobs.RefuseDisagreementDays)
	}
	if c.Jobs.MaxOutputBytes < -1 {
		return fmt.Errorf("config: jobs.max_output_bytes is %d: use a size in bytes, 0 for the default (%d) or -1 for no limit", c.Jobs.MaxOutputBytes, int64(DefaultMaxOutputBytes))
	}
	if c.WASM.Workers < -1 {
		return fmt.Errorf("config: wasm.workers is %d: use a number of processes, 0 for one per slot or -1 to run modules in the daemon", c.WASM.Workers)
	}
	if c.WASM.Nice < 0 || c.WASM.Nice > 19 {
		return fmt.Errorf("config: wasm.nice is %d: use 0 (the daemon's priority) to 19 (lowest)", c.WASM.Nice)
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("config: policy: %w", err)
	}
	if err := c.Orgs.Validate(); err != nil {
		return fmt.Errorf("config: orgs: %w", err)
	}
	return nil
}

// LoadConfig reads and validates a config file; unknown fields are errors.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s is not valid: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Save writes the config atomically (temp file + rename).
func (c *Config) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}

// Duration is a time.Duration that reads and writes as "1m30s" in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// writeFileAtomic writes path through a temp file that is created anew
// (O_EXCL), so that it gets mode even where a crash left a temp file with
// another (a secret must never inherit a stale 0644).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
