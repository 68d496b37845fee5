// Package plans lists Shoal's simulation plans for the runner. Each plan
// lives in its own directory: manifest.toml, the package with its test
// cases, and cmd/, its standalone binary for local:exec and local:docker.
package plans

import (
	"fmt"
	"sort"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/plans/churn"
	"github.com/shoalnet/shoal/testground/plans/discovery"
	"github.com/shoalnet/shoal/testground/plans/nat"
	"github.com/shoalnet/shoal/testground/plans/partition"
	"github.com/shoalnet/shoal/testground/plans/placement"
	"github.com/shoalnet/shoal/testground/plans/throughput"
	"github.com/shoalnet/shoal/testground/runner"
	"github.com/shoalnet/shoal/testground/sdk/run"
)

const pkgRoot = "github.com/shoalnet/shoal/testground/plans/"

type entry struct {
	name     string
	manifest []byte
	cases    run.TestCases
}

var all = []entry{
	{"placement", placement.Manifest, placement.TestCases},
	{"churn", churn.Manifest, churn.TestCases},
	{"discovery", discovery.Manifest, discovery.TestCases},
	{"throughput", throughput.Manifest, throughput.TestCases},
	{"partition", partition.Manifest, partition.TestCases},
	{"nat", nat.Manifest, nat.TestCases},
}

// Get returns the named plan.
func Get(name string) (*runner.Plan, error) {
	for _, e := range all {
		if e.name != name {
			continue
		}
		m, err := manifest.Parse(e.manifest)
		if err != nil {
			return nil, err
		}
		if m.Name != e.name {
			return nil, fmt.Errorf("plans: manifest of %s names itself %q", e.name, m.Name)
		}
		return &runner.Plan{Name: e.name, Manifest: m, Cases: e.cases, Package: pkgRoot + e.name + "/cmd"}, nil
	}
	return nil, fmt.Errorf("no plan %q (plans: %v)", name, Names())
}

// Names lists the plans.
func Names() []string {
	var out []string
	for _, e := range all {
		out = append(out, e.name)
	}
	sort.Strings(out)
	return out
}
