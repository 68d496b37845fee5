package jobspec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Bounds of a job's secrets. The spec holds only their names; the values
// travel in the award, sealed to the executor (package bidding/internal/secrets).
const (
	// MaxSecrets is the most secrets a job names.
	MaxSecrets = 32
	// MaxSecretName bounds a secret's name.
	MaxSecretName = 128
	// MaxSecretValue bounds one secret's value.
	MaxSecretValue = 4096
	// MaxSecretsTotal bounds the values of all of a job's secrets together
	// (names included), so that the sealed award stays small.
	MaxSecretsTotal = 16 << 10
)

// secretName is what an environment variable name may be.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// HasSecrets reports whether the job names secrets.
func (s *Spec) HasSecrets() bool { return len(s.Secrets) > 0 }

// ReusableAcrossRequesters reports whether a result of this job may be
// handed to a requester other than the one that ran it (memoization): not
// when the job has secrets, whose values are not part of the job ID, so
// two requesters' runs of one job CID may have seen different values.
func (s *Spec) ReusableAcrossRequesters() bool { return !s.HasSecrets() }

// validateSecrets checks the names: environment variable names, each once,
// none also set in the engine's env.
func (s *Spec) validateSecrets(l *errList) {
	if len(s.Secrets) > MaxSecrets {
		l.addf("secrets", ErrTooLarge, "%d secrets, limit %d", len(s.Secrets), MaxSecrets)
		return
	}
	var env map[string]string
	switch {
	case s.Engine.Wasm != nil:
		env = s.Engine.Wasm.Env
	case s.Engine.Docker != nil:
		env = s.Engine.Docker.Env
	}
	seen := map[string]bool{}
	for i, n := range s.Secrets {
		p := fmt.Sprintf("secrets[%d]", i)
		switch {
		case len(n) > MaxSecretName || !secretName.MatchString(n):
			l.addf(p, ErrInvalid, "%q: a secret is named like an environment variable (letters, digits, _; not starting with a digit; at most %d bytes)", truncateName(n), MaxSecretName)
		case seen[n]:
			l.addf(p, ErrInvalid, "%q is named twice", n)
		case env != nil && env[n] != "":
			l.addf(p, ErrInvalid, "%q is also set in the engine's env; a secret's value comes only from the submission", n)
		}
		seen[n] = true
	}
}

// CheckSecretValues checks the values given for the job's secrets: exactly
// one for each name the spec lists (no more, no fewer), within the bounds.
// Its errors name the secrets, never their values.
func (s *Spec) CheckSecretValues(vals map[string]string) error {
	var missing, extra []string
	total := 0
	for _, n := range s.Secrets {
		v, ok := vals[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		if len(v) > MaxSecretValue {
			return fmt.Errorf("secret %s: value of %d bytes, limit %d", n, len(v), MaxSecretValue)
		}
		total += len(n) + len(v)
	}
	for n := range vals {
		if !slices.Contains(s.Secrets, n) {
			extra = append(extra, n)
		}
	}
	slices.Sort(extra)
	switch {
	case len(missing) > 0:
		return fmt.Errorf("the job names secrets %s but no value was given for them (shoal run --secret NAME=value, or --secret NAME to take it from the environment)", strings.Join(missing, ", "))
	case len(extra) > 0:
		return fmt.Errorf("values given for %s, which the job's secrets do not list (add them to secrets: in the spec)", strings.Join(extra, ", "))
	case total > MaxSecretsTotal:
		return fmt.Errorf("secrets of %d bytes together, limit %d", total, MaxSecretsTotal)
	}
	return nil
}

func truncateName(n string) string {
	if len(n) > 40 {
		return n[:40] + "..."
	}
	return n
}
