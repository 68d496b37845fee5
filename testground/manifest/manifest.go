// Package manifest reads Testground's plan manifests (manifest.toml) and
// compositions (*.toml): test cases with instance bounds and typed
// parameters with defaults; groups with instance counts and parameters.
// Parameters resolve in order: manifest default, composition global,
// group, command line.
package manifest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

// Manifest is a plan's manifest.toml.
type Manifest struct {
	Name     string `toml:"name"`
	Defaults struct {
		Builder string `toml:"builder"`
		Runner  string `toml:"runner"`
	} `toml:"defaults"`
	Builders  map[string]Enabled `toml:"builders"`
	Runners   map[string]Enabled `toml:"runners"`
	TestCases []TestCase         `toml:"testcases"`
	// Report is Shoal's extension: which metrics the run's plot shows.
	Report Report `toml:"report"`
}

// Report names the metrics plotted: cumulative distributions and bars of
// means (fractions, for 0/1 metrics).
type Report struct {
	CDF  []string `toml:"cdf"`
	Bars []string `toml:"bars"`
}

// Enabled is a builder or runner entry.
type Enabled struct {
	Enabled bool `toml:"enabled"`
}

// TestCase is one [[testcases]] entry.
type TestCase struct {
	Name      string           `toml:"name"`
	Instances Instances        `toml:"instances"`
	Params    map[string]Param `toml:"params"`
}

// Instances bounds a case's instance count.
type Instances struct {
	Min     int `toml:"min"`
	Max     int `toml:"max"`
	Default int `toml:"default"`
}

// Param is a typed parameter with a default.
type Param struct {
	Type    string `toml:"type"` // int, float, bool, string, duration
	Desc    string `toml:"desc"`
	Unit    string `toml:"unit"`
	Default any    `toml:"default"`
}

// Parse decodes and checks a manifest.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if _, err := toml.Decode(string(b), &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Name == "" {
		return nil, fmt.Errorf("manifest: name is empty")
	}
	if len(m.TestCases) == 0 {
		return nil, fmt.Errorf("manifest %s: no [[testcases]]", m.Name)
	}
	seen := map[string]bool{}
	for i := range m.TestCases {
		tc := &m.TestCases[i]
		if tc.Name == "" || seen[tc.Name] {
			return nil, fmt.Errorf("manifest %s: test case %d has an empty or repeated name %q", m.Name, i, tc.Name)
		}
		seen[tc.Name] = true
		in := tc.Instances
		if in.Min < 1 || in.Max < in.Min || in.Default < in.Min || in.Default > in.Max {
			return nil, fmt.Errorf("manifest %s: case %s: instances need 1 ≤ min ≤ default ≤ max, got min %d default %d max %d", m.Name, tc.Name, in.Min, in.Default, in.Max)
		}
		for name, p := range tc.Params {
			if err := runtime.CheckParam(name, ""); err != nil {
				return nil, fmt.Errorf("manifest %s: case %s: %w", m.Name, tc.Name, err)
			}
			if _, err := p.format(p.Default); err != nil {
				return nil, fmt.Errorf("manifest %s: case %s: default of %s: %w", m.Name, tc.Name, name, err)
			}
		}
	}
	return &m, nil
}

// Case returns the named test case ("" means the first).
func (m *Manifest) Case(name string) (*TestCase, error) {
	if name == "" {
		return &m.TestCases[0], nil
	}
	var names []string
	for i := range m.TestCases {
		if m.TestCases[i].Name == name {
			return &m.TestCases[i], nil
		}
		names = append(names, m.TestCases[i].Name)
	}
	return nil, fmt.Errorf("plan %s has no test case %q (it has: %s)", m.Name, name, strings.Join(names, ", "))
}

// RunnerEnabled reports whether the manifest enables runner r.
func (m *Manifest) RunnerEnabled(r string) bool { return m.Runners[r].Enabled }

// Resolve returns the case's parameters: the defaults overridden by each
// layer in turn. An unknown name or a value of the wrong type is an error
// naming it.
func (tc *TestCase) Resolve(layers ...map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for name, p := range tc.Params {
		v, err := p.format(p.Default)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	for _, l := range layers {
		for name, v := range l {
			p, ok := tc.Params[name]
			if !ok {
				return nil, fmt.Errorf("case %s has no parameter %q (it has: %s)", tc.Name, name, strings.Join(tc.ParamNames(), ", "))
			}
			if err := runtime.CheckParam(name, v); err != nil {
				return nil, err
			}
			if err := p.check(v); err != nil {
				return nil, fmt.Errorf("parameter %s=%q: %w", name, v, err)
			}
			out[name] = v
		}
	}
	return out, nil
}

// ParamNames lists the case's parameter names, sorted.
func (tc *TestCase) ParamNames() []string {
	var names []string
	for n := range tc.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// format renders a TOML default as the string an instance receives.
func (p Param) format(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", fmt.Errorf("no default")
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", fmt.Errorf("unsupported default %v (%T)", v, v)
	}
	return s, p.check(s)
}

func (p Param) check(s string) error {
	var err error
	switch p.Type {
	case "int":
		_, err = strconv.Atoi(s)
	case "float":
		_, err = strconv.ParseFloat(s, 64)
	case "bool":
		_, err = strconv.ParseBool(s)
	case "duration":
		_, err = time.ParseDuration(s)
	case "string", "":
	default:
		return fmt.Errorf("unknown type %q (want int, float, bool, string or duration)", p.Type)
	}
	if err != nil {
		return fmt.Errorf("not a valid %s", p.Type)
	}
	return nil
}
