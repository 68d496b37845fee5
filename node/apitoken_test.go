package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// Every secret of a new repo is 0600 in a 0700 directory; the config, which
// others may read, holds none.
func TestRepoSecretsAre0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	key := []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("ab", 32) + "\n")
	if _, err := Init(dir, InitOptions{Profile: ProfileLocal, SwarmKey: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&OrgStore{Repo: dir}).Init("acme"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, KeyFile), 0o600},
		{filepath.Join(dir, SwarmKeyFile), 0o600},
		{filepath.Join(dir, APITokenFile), 0o600},
		{filepath.Join(dir, OrgKeysDir), 0o700},
		{filepath.Join(dir, OrgKeysDir, "acme.key"), 0o600},
	} {
		if got := mode(t, tc.path); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, got, tc.want)
		}
	}
	tok, err := ReadAPITokenFile(APITokenPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 2*APITokenBytes {
		t.Fatalf("token %q: want %d hex characters", tok, 2*APITokenBytes)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), tok) || strings.Contains(string(cfg), `"token"`) {
		t.Fatalf("config holds the API token:\n%s", cfg)
	}
	// A second repo gets another token.
	dir2 := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(dir2, InitOptions{Profile: ProfileLocal}); err != nil {
		t.Fatal(err)
	}
	if tok2, _ := ReadAPITokenFile(APITokenPath(dir2)); tok2 == tok {
		t.Fatal("two repos got the same token")
	}
}

// A temp file left 0644 by a crash must not make the token file 0644.
func TestSecretIgnoresStaleTempMode(t *testing.T) {
	dir := t.TempDir()
	tmp := APITokenPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAPIToken(dir); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, APITokenPath(dir)); got != 0o600 {
		t.Fatalf("token file mode %v after a stale 0644 temp file, want 0600", got)
	}
}

func TestEnsureAPIToken(t *testing.T) {
	newRepo := func(t *testing.T) *Repo {
		dir := filepath.Join(t.TempDir(), "repo")
		if _, err := Init(dir, InitOptions{Profile: ProfileLocal}); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRepo(dir)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("kept", func(t *testing.T) {
		r := newRepo(t)
		want, _ := ReadAPITokenFile(APITokenPath(r.Path))
		got, err := r.EnsureAPIToken()
		if err != nil || got != want {
			t.Fatalf("EnsureAPIToken = %q, %v; want the init token %q", got, err, want)
		}
	})
	t.Run("missing (old repo)", func(t *testing.T) {
		r := newRepo(t)
		if err := os.Remove(APITokenPath(r.Path)); err != nil {
			t.Fatal(err)
		}
		got, err := r.EnsureAPIToken()
		if err != nil || len(got) != 2*APITokenBytes {
			t.Fatalf("EnsureAPIToken = %q, %v", got, err)
		}
		if m := mode(t, APITokenPath(r.Path)); m != 0o600 {
			t.Fatalf("created token file mode %v, want 0600", m)
		}
		again, _ := r.EnsureAPIToken()
		if again != got {
			t.Fatalf("second call changed the token: %q then %q", got, again)
		}
	})
	t.Run("readable by others", func(t *testing.T) {
		r := newRepo(t)
		want, _ := ReadAPITokenFile(APITokenPath(r.Path))
		if err := os.Chmod(APITokenPath(r.Path), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := r.EnsureAPIToken()
		if err != nil || got != want {
			t.Fatalf("EnsureAPIToken = %q, %v; want %q", got, err, want)
		}
		if m := mode(t, APITokenPath(r.Path)); m != 0o600 {
			t.Fatalf("token file mode %v, want 0600 again", m)
		}
	})
	t.Run("token in an old config", func(t *testing.T) {
		r := newRepo(t)
		const old = "secret-from-a-0644-config"
		r.Config.API.Token = old
		cfgPath := filepath.Join(r.Path, ConfigFile)
		if err := r.Config.Save(cfgPath); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRepo(r.Path) // as the daemon does
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.EnsureAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		if got == old || got == "" {
			t.Fatalf("token %q: want a new one, not the config's (others may have read it)", got)
		}
		if f, _ := ReadAPITokenFile(APITokenPath(r.Path)); f != got {
			t.Fatalf("file holds %q, daemon uses %q", f, got)
		}
		b, _ := os.ReadFile(cfgPath)
		if strings.Contains(string(b), old) {
			t.Fatalf("config still holds the old token:\n%s", b)
		}
		if c, err := LoadConfig(cfgPath); err != nil || c.API.Token != "" {
			t.Fatalf("config after migration: %v, token %q", err, c.API.Token)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		r := newRepo(t)
		if err := os.WriteFile(APITokenPath(r.Path), []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := r.EnsureAPIToken(); !errors.Is(err, ErrBadAPIToken) {
			t.Fatalf("empty token file: %v, want ErrBadAPIToken", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		r := newRepo(t)
		other := filepath.Join(t.TempDir(), "elsewhere")
		if err := os.WriteFile(other, []byte("abc\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(APITokenPath(r.Path)); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(other, APITokenPath(r.Path)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.EnsureAPIToken(); !errors.Is(err, ErrBadAPIToken) {
			t.Fatalf("symlinked token file: %v, want ErrBadAPIToken", err)
		}
	})
}
