package runtime

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The environment contract between a runner and an instance, as in
// Testground. Every runner sets all of these; a plan reads them through
// [CurrentRunEnv] or [ParseRunParams].
const (
	EnvTestPlan               = "TEST_PLAN"
	EnvTestCase               = "TEST_CASE"
	EnvTestRun                = "TEST_RUN"
	EnvTestInstanceCount      = "TEST_INSTANCE_COUNT"
	EnvTestGroupID            = "TEST_GROUP_ID"
	EnvTestGroupInstanceCount = "TEST_GROUP_INSTANCE_COUNT"
	EnvTestInstanceParams     = "TEST_INSTANCE_PARAMS"
	EnvTestOutputsPath        = "TEST_OUTPUTS_PATH"
	EnvTestTempPath           = "TEST_TEMP_PATH"
	EnvTestStartTime          = "TEST_START_TIME"
	// EnvTestSubnet is the network instances talk on (CIDR): 127.0.0.0/8
	// for local:exec, the run's data network for local:docker.
	EnvTestSubnet = "TEST_SUBNET"
	// EnvTestSidecar is "true" when a runner shapes the network on request.
	EnvTestSidecar = "TEST_SIDECAR"
	// EnvSyncServiceHost and EnvSyncServicePort locate the sync service
	// (Testground's names; the port defaults to 5050).
	EnvSyncServiceHost = "SYNC_SERVICE_HOST"
	EnvSyncServicePort = "SYNC_SERVICE_PORT"
	// EnvSyncServiceSocket is Shoal's extension: the path of a Unix
	// socket the sync service listens on, used instead of host and port
	// when set. local:exec's NAT topology sets it: an instance in a
	// network namespace cannot reach the runner's 127.0.0.1, but every
	// namespace shares the filesystem.
	EnvSyncServiceSocket = "SHOAL_SYNC_SERVICE_SOCKET"
	// EnvInstanceIndex is Shoal's extension to the contract: the runner's
	// 0-based index of this instance in the run (groups in composition
	// order). Runner actions (kill, partition) name instances by it.
	EnvInstanceIndex = "SHOAL_SIM_INSTANCE_INDEX"
	// EnvListenIP is Shoal's extension for local:exec: the loopback address
	// (127.0.0.x) this instance listens on.
	EnvListenIP = "SHOAL_SIM_LISTEN_IP"
	// EnvNAT is Shoal's extension for local:exec's NAT topology: where the
	// instance's namespace is, NATPublic (the public segment) or a site
	// router's mapping behaviour (NATEndpointIndependent, NATSymmetric).
	// Unset outside that topology.
	EnvNAT = "SHOAL_SIM_NAT"
)

// Values of EnvNAT.
const (
	NATPublic              = "public"
	NATEndpointIndependent = "endpoint-independent"
	NATSymmetric           = "symmetric"
)

// DefaultSyncServicePort is Testground's sync service port.
const DefaultSyncServicePort = 5050

// RunParams are the parameters of one instance in one run.
type RunParams struct {
	TestPlan               string            `json:"plan"`
	TestCase               string            `json:"case"`
	TestRun                string            `json:"run"`
	TestInstanceCount      int               `json:"instances"`
	TestGroupID            string            `json:"group,omitempty"`
	TestGroupInstanceCount int               `json:"group_instances,omitempty"`
	TestInstanceParams     map[string]string `json:"params,omitempty"`
	TestOutputsPath        string            `json:"outputs_path,omitempty"`
	TestTempPath           string            `json:"temp_path,omitempty"`
	TestStartTime          time.Time         `json:"start_time,omitempty"`
	TestSubnet             string            `json:"network,omitempty"`
	TestSidecar            bool              `json:"test_sidecar,omitempty"`
	// InstanceIndex is EnvInstanceIndex (-1 when unset).
	InstanceIndex int `json:"instance_index"`
	// ListenIP is EnvListenIP ("" when unset).
	ListenIP string `json:"listen_ip,omitempty"`
	// NAT is EnvNAT ("" when unset).
	NAT string `json:"nat,omitempty"`
}

// ParseRunParams reads the contract from env (os.Environ form). Missing
// required variables and malformed numbers are errors naming the variable.
func ParseRunParams(env []string) (*RunParams, error) {
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = v
		}
	}
	rp := &RunParams{
		TestPlan:        m[EnvTestPlan],
		TestCase:        m[EnvTestCase],
		TestRun:         m[EnvTestRun],
		TestGroupID:     m[EnvTestGroupID],
		TestOutputsPath: m[EnvTestOutputsPath],
		TestTempPath:    m[EnvTestTempPath],
		TestSubnet:      m[EnvTestSubnet],
		ListenIP:        m[EnvListenIP],
		NAT:             m[EnvNAT],
		InstanceIndex:   -1,
	}
	for _, req := range []string{EnvTestPlan, EnvTestCase, EnvTestRun, EnvTestInstanceCount} {
		if m[req] == "" {
			return nil, fmt.Errorf("runtime: %s is not set: run the instance through a runner (shoal-sim run)", req)
		}
	}
	var err error
	if rp.TestInstanceCount, err = atoi(m, EnvTestInstanceCount, 0); err != nil {
		return nil, err
	}
	if rp.TestGroupInstanceCount, err = atoi(m, EnvTestGroupInstanceCount, rp.TestInstanceCount); err != nil {
		return nil, err
	}
	if rp.InstanceIndex, err = atoi(m, EnvInstanceIndex, -1); err != nil {
		return nil, err
	}
	if rp.TestInstanceParams, err = UnpackParams(m[EnvTestInstanceParams]); err != nil {
		return nil, err
	}
	if s := m[EnvTestStartTime]; s != "" {
		if rp.TestStartTime, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, fmt.Errorf("runtime: %s=%q is not an RFC 3339 time: %w", EnvTestStartTime, s, err)
		}
	}
	rp.TestSidecar, _ = strconv.ParseBool(m[EnvTestSidecar])
	switch rp.NAT {
	case "", NATPublic, NATEndpointIndependent, NATSymmetric:
	default:
		return nil, fmt.Errorf("runtime: %s=%q: want %s, %s or %s", EnvNAT, rp.NAT, NATPublic, NATEndpointIndependent, NATSymmetric)
	}
	if rp.TestSubnet != "" {
		if _, _, err := net.ParseCIDR(rp.TestSubnet); err != nil {
			return nil, fmt.Errorf("runtime: %s=%q is not a CIDR: %w", EnvTestSubnet, rp.TestSubnet, err)
		}
	}
	return rp, nil
}

func atoi(m map[string]string, k string, def int) (int, error) {
	s := m[k]
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("runtime: %s=%q is not an integer", k, s)
	}
	return v, nil
}

// Env returns the contract as KEY=VALUE pairs, sorted by key.
func (rp *RunParams) Env() []string {
	m := map[string]string{
		EnvTestPlan:               rp.TestPlan,
		EnvTestCase:               rp.TestCase,
		EnvTestRun:                rp.TestRun,
		EnvTestInstanceCount:      strconv.Itoa(rp.TestInstanceCount),
		EnvTestGroupID:            rp.TestGroupID,
		EnvTestGroupInstanceCount: strconv.Itoa(rp.TestGroupInstanceCount),
		EnvTestInstanceParams:     PackParams(rp.TestInstanceParams),
		EnvTestOutputsPath:        rp.TestOutputsPath,
		EnvTestTempPath:           rp.TestTempPath,
		EnvTestSubnet:             rp.TestSubnet,
		EnvTestSidecar:            strconv.FormatBool(rp.TestSidecar),
		EnvInstanceIndex:          strconv.Itoa(rp.InstanceIndex),
	}
	if !rp.TestStartTime.IsZero() {
		m[EnvTestStartTime] = rp.TestStartTime.UTC().Format(time.RFC3339Nano)
	}
	if rp.ListenIP != "" {
		m[EnvListenIP] = rp.ListenIP
	}
	if rp.NAT != "" {
		m[EnvNAT] = rp.NAT
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// PackParams encodes params as TEST_INSTANCE_PARAMS: k=v pairs joined by
// "|", sorted by key. Keys and values must not contain "|"; keys must not
// contain "=" (see [CheckParam]).
func PackParams(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, "|")
}

// UnpackParams decodes TEST_INSTANCE_PARAMS. An entry without "=" is an
// error naming it; the value is everything after the first "=".
func UnpackParams(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, "|") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("runtime: %s entry %q is not k=v", EnvTestInstanceParams, kv)
		}
		out[k] = v
	}
	return out, nil
}

// CheckParam reports whether k=v can travel in TEST_INSTANCE_PARAMS.
func CheckParam(k, v string) error {
	if k == "" || strings.ContainsAny(k, "=|") {
		return fmt.Errorf("parameter name %q must be non-empty and contain neither '=' nor '|'", k)
	}
	if strings.Contains(v, "|") {
		return fmt.Errorf("parameter %s=%q: values must not contain '|'", k, v)
	}
	return nil
}
