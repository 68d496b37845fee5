package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/p2p"
)

// Files and directories inside a repo.
const (
	ConfigFile     = "config"
	KeyFile        = "identity.key"
	SwarmKeyFile   = "swarm.key"
	DatastoreDir   = "datastore"
	BlocksDir      = "blocks" // blocks of content.LargeBlockMin bytes and more, one file each
	LockFile       = "repo.lock"
	APIFile        = "api"
	APITokenFile   = "api.token"
	WasmCacheDir   = "wasm-cache"
	WasmRecentDir  = "wasm-recent" // the modules new wasm workers preload
	EnvRepo        = "SHOAL_PATH"
	DefaultRepoDir = ".shoal"
)

// Errors about repos.
var (
	ErrRepoExists = errors.New("repo already initialized")
	ErrNoRepo     = errors.New("no repo")
	ErrRepoLocked = errors.New("repo locked")
)

// DefaultRepoPath is $SHOAL_PATH, else ~/.shoal.
func DefaultRepoPath() string {
	if p := os.Getenv(EnvRepo); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return DefaultRepoDir
	}
	return filepath.Join(home, DefaultRepoDir)
}

// InitOptions configure Init.
type InitOptions struct {
	Profile string
	// SwarmKey, when set, is copied into the repo to make the node join a
	// private network.
	SwarmKey []byte
	// Mutate, when set, edits the config before it is written.
	Mutate func(*Config)
}

// Init creates a repo at dir: an Ed25519 identity (0600), a random API token
// (api.token, 0600), the config file and the datastore directory. It refuses
// an existing repo.
func Init(dir string, opts InitOptions) (*Config, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%w at %s (remove it to start over, or use --repo to choose another directory)", ErrRepoExists, dir)
	}
	cfg, err := DefaultConfig(opts.Profile)
	if err != nil {
		return nil, err
	}
	if len(opts.SwarmKey) > 0 {
		if _, err := p2p.DecodeSwarmKey(opts.SwarmKey); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, DatastoreDir), 0o700); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, KeyFile), raw, 0o600); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if _, err := writeAPIToken(dir); err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	cfg.Identity.PeerID = id.String()
	if opts.Mutate != nil {
		opts.Mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(opts.SwarmKey) > 0 {
		if err := writeFileAtomic(filepath.Join(dir, SwarmKeyFile), opts.SwarmKey, 0o600); err != nil {
			return nil, fmt.Errorf("write swarm key: %w", err)
		}
	}
	// The config goes last: its presence marks a complete repo.
	if err := cfg.Save(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	return cfg, nil
}

// Repo is an opened repo directory.
type Repo struct {
	Path   string
	Config *Config
	Key    crypto.PrivKey
	ID     peer.ID
	// PSK is the private network key, nil for the open network.
	PSK pnet.PSK
}

// OpenRepo reads a repo's config, identity and swarm key. It does not lock.
func OpenRepo(dir string) (*Repo, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s (create one with `shoal init`)", ErrNoRepo, dir)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	sk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity key %s is corrupt: %w", filepath.Join(dir, KeyFile), err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	if cfg.Identity.PeerID != "" && cfg.Identity.PeerID != id.String() {
		return nil, fmt.Errorf("config names peer %s but the identity key is %s", cfg.Identity.PeerID, id)
	}
	r := &Repo{Path: dir, Config: cfg, Key: sk, ID: id}
	if b, err := os.ReadFile(filepath.Join(dir, SwarmKeyFile)); err == nil {
		if r.PSK, err = p2p.DecodeSwarmKey(b); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SwarmKeyFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read swarm key: %w", err)
	}
	return r, nil
}

// Lock takes the repo's exclusive lock (flock) and records our pid in it. The
// lock dies with the process, so a crash never leaves a stale lock.
func (r *Repo) Lock() (unlock func() error, err error) {
	path := filepath.Join(r.Path, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open repo lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, fmt.Errorf("%w by pid %d (%s): another daemon is using it", ErrRepoLocked, pid, r.Path)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}

// OpenDatastore opens the repo's pebble datastore.
func (r *Repo) OpenDatastore() (*pebbleds.Datastore, error) {
	// Options sized for block storage: the defaults halve fetch throughput.
	d, err := pebbleds.NewDatastore(filepath.Join(r.Path, DatastoreDir), pebbleds.WithPebbleOpts(content.PebbleOptions()))
	if err != nil {
		return nil, fmt.Errorf("open datastore: %w", err)
	}
	return d, nil
}
