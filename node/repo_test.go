package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/p2p"
)

func TestInitCreatesRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	cfg, err := Init(dir, InitOptions{Profile: ProfileLocal})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("identity key mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, DatastoreDir)); err != nil {
		t.Fatalf("no datastore dir: %v", err)
	}
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID.String() != cfg.Identity.PeerID {
		t.Fatalf("opened peer %s, init said %s", r.ID, cfg.Identity.PeerID)
	}
	if r.PSK != nil {
		t.Fatal("repo without swarm.key has a PSK")
	}
	if _, err := Init(dir, InitOptions{Profile: ProfileLocal}); !errors.Is(err, ErrRepoExists) {
		t.Fatalf("second init: err = %v, want ErrRepoExists", err)
	}
}

func TestInitWithSwarmKey(t *testing.T) {
	key, _ := p2p.GenerateSwarmKey()
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Profile: ProfileLocal, SwarmKey: key}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepo(dir)
	if err != nil || r.PSK == nil {
		t.Fatalf("OpenRepo = %v, psk %v; want a PSK", err, r.PSK)
	}
	if _, err := Init(t.TempDir(), InitOptions{SwarmKey: []byte("junk")}); err == nil {
		t.Fatal("init accepted a malformed swarm key")
	}
}

func TestOpenRepoErrors(t *testing.T) {
	if _, err := OpenRepo(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNoRepo) || !strings.Contains(err.Error(), "shoal init") {
		t.Fatalf("missing repo: err = %v", err)
	}
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Profile: ProfileLocal}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRepo(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt key: err = %v", err)
	}
}

func TestRepoLock(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Profile: ProfileLocal}); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenRepo(dir)
	unlock, err := r.Lock()
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description: a second open in the
	// same process conflicts just like another process would.
	_, err = r.Lock()
	want := fmt.Sprintf("repo locked by pid %d", os.Getpid())
	if !errors.Is(err, ErrRepoLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: err = %v, want %q", err, want)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock2, err := r.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
