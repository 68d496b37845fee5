package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// APITokenBytes is the number of random bytes in a generated API token (hex
// encoded in the file: 64 characters).
const APITokenBytes = 32

// ErrBadAPIToken means the API token file exists but holds no usable token.
var ErrBadAPIToken = errors.New("invalid API token file")

// APITokenPath is where a repo keeps its API token: $REPO/api.token, 0600.
func APITokenPath(repo string) string { return filepath.Join(repo, APITokenFile) }

// NewAPIToken returns a fresh random token.
func NewAPIToken() (string, error) {
	b := make([]byte, APITokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate API token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ReadAPITokenFile reads a token file: one line, surrounding space trimmed.
func ReadAPITokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("%w %s: want one line holding the token (delete it and restart the daemon to get a new one)", ErrBadAPIToken, path)
	}
	return t, nil
}

// writeAPIToken writes a new token file (0600) for repo.
func writeAPIToken(repo string) (string, error) {
	t, err := NewAPIToken()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(APITokenPath(repo), []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write API token: %w", err)
	}
	return t, nil
}

// EnsureAPIToken returns the repo's API token, creating $REPO/api.token
// (0600) when it is missing (repos made before the file existed). A token
// file readable by others is made 0600 again. A token left in the config by
// older versions (api.token, in a 0644 file) is removed from the config and
// not honoured: others may have read it, so the file gets a new one.
func (r *Repo) EnsureAPIToken() (string, error) {
	if r.Config.API.Token != "" {
		log.Warn("api.token in the config is no longer used: the config is readable by others; it is removed and the token now lives in a 0600 file (clients on this machine read it; give remote clients the new one)", "file", APITokenPath(r.Path))
		r.Config.API.Token = ""
		if err := r.Config.Save(filepath.Join(r.Path, ConfigFile)); err != nil {
			return "", fmt.Errorf("remove api.token from the config: %w", err)
		}
		if err := os.Remove(APITokenPath(r.Path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("replace API token: %w", err)
		}
	}
	path := APITokenPath(r.Path)
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return writeAPIToken(r.Path)
	}
	if err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w %s: not a regular file (remove it; the daemon writes a new one)", ErrBadAPIToken, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("API token file was readable by others: made 0600; consider deleting it so that the daemon writes a new token", "file", path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("make %s 0600: %w", path, err)
		}
	}
	return ReadAPITokenFile(path)
}
