package market

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/internal/secrets"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// secretVault holds the secret values of the requester's jobs in memory
// only: never in the job store, a block, a log or an event. A requester that
// restarts has lost them; a job of its that still needs an award then fails
// and must be submitted again with its values.
type secretVault struct {
	mu sync.Mutex
	m  map[cid.Cid]map[string]string
}

func (v *secretVault) put(id cid.Cid, vals map[string]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[cid.Cid]map[string]string{}
	}
	v.m[id] = maps.Clone(vals)
}

func (v *secretVault) get(id cid.Cid) (map[string]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vals, ok := v.m[id]
	return vals, ok
}

func (v *secretVault) drop(id cid.Cid) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, id)
}

// submitWithSecrets is SubmitWith for a job that names secrets: vals holds one
// value for each name in spec.Secrets. The values stay in this process's
// memory until the job ends and leave it only sealed to an executor in its
// award. A job that names secrets cannot be submitted without them.
func (m *Market) submitWithSecrets(ctx context.Context, spec *jobspec.Spec, opts SubmitOptions) (cid.Cid, bool, error) {
	vals := opts.Secrets
	if err := spec.CheckSecretValues(vals); err != nil {
		return cid.Undef, false, fmt.Errorf("%w: %w", jobspec.ErrInvalid, err)
	}
	_, id, err := jobspec.Encode(spec)
	if err != nil {
		return cid.Undef, false, err
	}
	m.vault.put(id, vals)
	got, existing, err := m.submit(ctx, spec, opts)
	if err != nil {
		m.vault.drop(id)
	}
	return got, existing, err
}

// sealSecrets seals the job's secret values into the award a; a job
// without secrets is left as is.
func (m *Market) sealSecrets(spec *jobspec.Spec, a *bidding.Award) error {
	if !spec.HasSecrets() {
		return nil
	}
	vals, ok := m.vault.get(a.JobCID)
	if !ok {
		return errSecretsLost
	}
	sealed, err := secrets.Seal(awardBinding(a), vals)
	if err != nil {
		return err
	}
	a.Secrets = sealed
	return nil
}

// errSecretsLost: the requester restarted since the job was submitted.
var errSecretsLost = fmt.Errorf("the values of the job's secrets were only in the requester's memory and are gone (the daemon restarted): submit the job again with its --secret values")

// awardBinding is what an award's sealed secrets are bound to.
func awardBinding(a *bidding.Award) secrets.Binding {
	return secrets.Binding{Award: a.AwardID[:], Job: a.JobCID.String(), Executor: a.Executor}
}

// openSecrets opens the sealed secrets of an award to this executor and
// checks them against the spec; a job without secrets gives nil.
func (ex *executor) openSecrets(a *bidding.Award, spec *jobspec.Spec) (map[string]string, error) {
	if !spec.HasSecrets() {
		if len(a.Secrets) > 0 {
			return nil, fmt.Errorf("the award carries sealed secrets but the job names none")
		}
		return nil, nil
	}
	if len(a.Secrets) == 0 {
		return nil, fmt.Errorf("the job names secrets %v but the award carries none", spec.Secrets)
	}
	vals, err := secrets.Open(ex.cfg.Key, awardBinding(a), a.Secrets)
	if err != nil {
		return nil, err
	}
	if err := spec.CheckSecretValues(vals); err != nil {
		return nil, err
	}
	return vals, nil
}

// withSecrets is env with the secrets added (the spec makes sure that no
// name is in both).
func withSecrets(env, vals map[string]string) map[string]string {
	if len(vals) == 0 {
		return env
	}
	out := make(map[string]string, len(env)+len(vals))
	maps.Copy(out, env)
	maps.Copy(out, vals)
	return out
}
