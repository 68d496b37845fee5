package manifest

import (
	"fmt"
	"math"

	"github.com/BurntSushi/toml"
)

// Composition is a Testground composition: a plan, a case, a runner and
// groups of instances with their parameters.
type Composition struct {
	Metadata struct {
		Name   string `toml:"name"`
		Author string `toml:"author"`
	} `toml:"metadata"`
	Global Global  `toml:"global"`
	Groups []Group `toml:"groups"`
}

// Global holds what applies to every group.
type Global struct {
	Plan           string `toml:"plan"`
	Case           string `toml:"case"`
	TotalInstances int    `toml:"total_instances"`
	Builder        string `toml:"builder"`
	Runner         string `toml:"runner"`
	Run            Run    `toml:"run"`
	// RunConfig configures the runner (Testground's [global.run_config]):
	// for Shoal's runners latency, bandwidth, timeout.
	RunConfig map[string]any `toml:"run_config"`
}

// Group is one [[groups]] entry.
type Group struct {
	ID        string `toml:"id"`
	Instances struct {
		Count      int     `toml:"count"`
		Percentage float64 `toml:"percentage"`
	} `toml:"instances"`
	Run Run `toml:"run"`
}

// Run carries test parameters.
type Run struct {
	TestParams map[string]string `toml:"test_params"`
}

// ParseComposition decodes a composition. Groups without a count take a
// percentage of total_instances; a composition without groups has one
// group "single" of total_instances.
func ParseComposition(b []byte) (*Composition, error) {
	var c Composition
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, fmt.Errorf("composition: %w", err)
	}
	// Keys of tables nested in run_config (run_config.nat) land in the
	// map but are reported undecoded; the runner checks them.
	var und []toml.Key
	for _, k := range md.Undecoded() {
		if len(k) < 3 || k[0] != "global" || k[1] != "run_config" {
			und = append(und, k)
		}
	}
	if len(und) > 0 {
		return nil, fmt.Errorf("composition: unknown keys %v", und)
	}
	if c.Global.Plan == "" {
		return nil, fmt.Errorf("composition: global.plan is empty")
	}
	if len(c.Groups) == 0 {
		if c.Global.TotalInstances < 1 {
			return nil, fmt.Errorf("composition: no groups and no global.total_instances")
		}
		g := Group{ID: "single"}
		g.Instances.Count = c.Global.TotalInstances
		c.Groups = []Group{g}
	}
	total := 0
	seen := map[string]bool{}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.ID == "" || seen[g.ID] {
			return nil, fmt.Errorf("composition: group %d has an empty or repeated id %q", i, g.ID)
		}
		seen[g.ID] = true
		if g.Instances.Count == 0 && g.Instances.Percentage > 0 {
			if c.Global.TotalInstances < 1 {
				return nil, fmt.Errorf("composition: group %s uses a percentage but global.total_instances is not set", g.ID)
			}
			g.Instances.Count = int(math.Round(g.Instances.Percentage * float64(c.Global.TotalInstances)))
		}
		if g.Instances.Count < 1 {
			return nil, fmt.Errorf("composition: group %s has no instances", g.ID)
		}
		total += g.Instances.Count
	}
	if c.Global.TotalInstances > 0 && total != c.Global.TotalInstances {
		return nil, fmt.Errorf("composition: groups add up to %d instances, global.total_instances is %d", total, c.Global.TotalInstances)
	}
	c.Global.TotalInstances = total
	return &c, nil
}
