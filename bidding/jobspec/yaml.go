package jobspec

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
	"gopkg.in/yaml.v3"
)

type yamlSpec struct {
	Name         string         `yaml:"name,omitempty"`
	Type         Type           `yaml:"type"`
	Count        int            `yaml:"count"`
	Engine       yamlEngine     `yaml:"engine"`
	Inputs       []yamlInput    `yaml:"inputs,omitempty"`
	Outputs      []string       `yaml:"outputs"`
	Resources    yamlResources  `yaml:"resources"`
	Timeout      string         `yaml:"timeout"`
	QueueTimeout string         `yaml:"queue_timeout"`
	Constraints  yamlConstraint `yaml:"constraints"`
	Reuse        Reuse          `yaml:"reuse"`
	Publish      []yamlPublish  `yaml:"publish,omitempty"`
	Secrets      []string       `yaml:"secrets,omitempty"`
	Verify       *yamlVerify    `yaml:"verify,omitempty"`
	Partition    *yamlPartition `yaml:"partition,omitempty"`
}

type yamlVerify struct {
	Replicas int      `yaml:"replicas"`
	Quorum   int      `yaml:"quorum"`
	Distinct Distinct `yaml:"distinct"`
}

type yamlPartition struct {
	By          PartitionBy `yaml:"by"`
	Input       string      `yaml:"input,omitempty"`
	MaxParallel int         `yaml:"max_parallel,omitempty"`
	Retries     int         `yaml:"retries"`
}

type yamlEngine struct {
	Wasm   *yamlWasm   `yaml:"wasm,omitempty"`
	Docker *yamlDocker `yaml:"docker,omitempty"`
}

type yamlWasm struct {
	Module     string            `yaml:"module"`
	Entrypoint string            `yaml:"entrypoint"`
	Args       []string          `yaml:"args,omitempty,flow"`
	Env        map[string]string `yaml:"env,omitempty"`
	// Deterministic is spelled out, as every effective value.
	Deterministic bool `yaml:"deterministic"`
}

type yamlDocker struct {
	Image         string            `yaml:"image,omitempty"`
	ImageCID      string            `yaml:"image_cid,omitempty"`
	Entrypoint    []string          `yaml:"entrypoint,omitempty,flow"`
	Args          []string          `yaml:"args,omitempty,flow"`
	Env           map[string]string `yaml:"env,omitempty"`
	Deterministic bool              `yaml:"deterministic,omitempty"`
}

type yamlInput struct {
	CID  string  `yaml:"cid,omitempty"`
	URL  string  `yaml:"url,omitempty"`
	S3   *yamlS3 `yaml:"s3,omitempty"`
	Path string  `yaml:"path"`
}

type yamlS3 struct {
	Bucket   string `yaml:"bucket"`
	Key      string `yaml:"key,omitempty"`
	Prefix   string `yaml:"prefix,omitempty"`
	Endpoint string `yaml:"endpoint,omitempty"`
	Region   string `yaml:"region,omitempty"`
}

type yamlPublish struct {
	S3       *yamlS3   `yaml:"s3,omitempty"`
	IPFS     *yamlIPFS `yaml:"ipfs,omitempty"`
	Required bool      `yaml:"required,omitempty"`
}

type yamlIPFS struct {
	API string `yaml:"api"`
}

type yamlResources struct {
	CPU    float64 `yaml:"cpu"`
	Memory string  `yaml:"memory"`
	Disk   string  `yaml:"disk"`
}

type yamlConstraint struct {
	Labels    map[string]string `yaml:"labels,omitempty"`
	Locality  Locality          `yaml:"locality"`
	Executors *yamlExecutors    `yaml:"executors,omitempty"`
}

type yamlExecutors struct {
	Orgs  []string `yaml:"orgs,omitempty"`
	Peers []string `yaml:"peers,omitempty"`
}

// YAML renders s as a YAML job spec with every effective value spelled out
// (defaults included, sizes and durations in human units), for `shoal
// describe`. Parse of the result gives back the same spec.
func (s *Spec) YAML() ([]byte, error) {
	c := s.Clone()
	c.Normalize()
	doc := yamlSpec{
		Name:         c.Name,
		Type:         c.Type,
		Count:        c.Count,
		Outputs:      c.Outputs,
		Resources:    yamlResources{CPU: float64(c.Resources.MilliCPU) / 1000, Memory: FormatSize(c.Resources.Memory), Disk: FormatSize(c.Resources.Disk)},
		Timeout:      FormatDuration(c.Timeout),
		QueueTimeout: FormatDuration(c.QueueTimeout),
		Constraints:  yamlConstraint{Labels: c.Constraints.Labels, Locality: c.Constraints.Locality},
		Reuse:        c.Reuse,
		Secrets:      c.Secrets,
	}
	if v := c.Verify; v != nil {
		doc.Verify = &yamlVerify{Replicas: v.Replicas, Quorum: v.Quorum, Distinct: v.Distinct}
	}
	if w := c.Engine.Wasm; w != nil {
		doc.Engine.Wasm = &yamlWasm{Module: cidString(w.Module), Entrypoint: w.Entrypoint, Args: w.Args, Env: w.Env, Deterministic: c.Deterministic()}
	}
	if d := c.Engine.Docker; d != nil {
		doc.Engine.Docker = &yamlDocker{Image: d.Image, Entrypoint: d.Entrypoint, Args: d.Args, Env: d.Env, Deterministic: d.Deterministic}
		if d.ImageCID.Defined() {
			doc.Engine.Docker.ImageCID = d.ImageCID.String()
		}
	}
	for _, in := range c.Inputs {
		y := yamlInput{CID: cidString(in.CID), URL: in.URL, Path: in.Path}
		if o := in.S3; o != nil {
			y.S3 = &yamlS3{Bucket: o.Bucket, Key: o.Key, Prefix: o.Prefix, Endpoint: o.Endpoint, Region: o.Region}
		}
		doc.Inputs = append(doc.Inputs, y)
	}
	for _, p := range c.Publish {
		y := yamlPublish{Required: p.Required}
		if t := p.S3; t != nil {
			y.S3 = &yamlS3{Bucket: t.Bucket, Prefix: t.Prefix, Endpoint: t.Endpoint, Region: t.Region}
		}
		if t := p.IPFS; t != nil {
			y.IPFS = &yamlIPFS{API: t.API}
		}
		doc.Publish = append(doc.Publish, y)
	}
	if p := c.Partition; p != nil {
		doc.Partition = &yamlPartition{By: p.By, Input: p.Input, MaxParallel: p.MaxParallel, Retries: p.RetryCount()}
	}
	if ex := c.Constraints.Executors; !ex.Empty() {
		y := &yamlExecutors{Orgs: ex.Orgs}
		for _, p := range ex.Peers {
			y.Peers = append(y.Peers, p.String())
		}
		doc.Constraints.Executors = y
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render spec as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render spec as YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func cidString(c cid.Cid) string {
	if !c.Defined() {
		return ""
	}
	return c.String()
}
