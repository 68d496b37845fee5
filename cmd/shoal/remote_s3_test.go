package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/content/publish"
	"github.com/shoalnet/shoal/internal/kubotest"
	"github.com/shoalnet/shoal/internal/s3test"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// S3 inputs (a key and a prefix) and both publishers end to end, against a
// real SeaweedFS and a real kubo on loopback: the executor, whose S3
// credentials come from its own environment (AWS_ACCESS_KEY_ID, ...), never
// the spec, downloads the inputs, runs the job, uploads the outputs and an
// index naming their CID to S3 and pushes them as a CAR to kubo, which
// pins them. A publish target that fails is recorded in the receipt and
// fails the job only when required.
func TestS3InputsAndPublishers(t *testing.T) {
	s3 := s3test.Start(t)
	k := kubotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, b := range []string{"datasets", "results"} {
		if err := s3.MakeBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.Repeat("to be or not to be\n", 50)
	s3.Put(t, "datasets", "hamlet.txt", []byte(text))
	s3.Put(t, "datasets", "corpus/a.txt", []byte(text))
	s3.Put(t, "datasets", "corpus/b/c.txt", []byte(text))

	conf := testnet.EditConfig(func(c *node.Config) {
		c.Jobs.DisableDocker = true
		c.Jobs.BidWindow = node.Duration(2 * time.Second)
		c.Inputs.AllowPrivate = true // the kubo API is on loopback
		c.Inputs.S3Endpoint = s3.Endpoint
		c.Inputs.S3Region = "us-east-1"
	})
	d := testnet.Start(t, testnet.Options{Configure: conf,
		Env: []string{"AWS_ACCESS_KEY_ID=" + s3test.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3test.SecretKey}})
	wc := testnet.WasmModule(t, "examples/wordcount")

	j, err := runJSON(t, d, "run", "wasm", wc, "--input", "s3://datasets/hamlet.txt:/inputs/hamlet.txt",
		"--input", "s3://datasets/corpus/:/inputs/corpus", "--publish", "s3://results/jobs/wc", "--publish", "ipfs+"+k.APIURL(t),
		"--name", "s3-wc")
	if err != nil || j.State != api.JobCompleted {
		t.Fatalf("s3 job: %v %+v", err, j)
	}
	rc := j.Receipts[0]
	if len(rc.Imports) != 2 || rc.Imports[0].CID == "" || rc.Imports[1].CID == "" {
		t.Fatalf("imports %+v", rc.Imports)
	}
	if rc.Imports[0].Source != "s3://datasets/hamlet.txt" && rc.Imports[1].Source != "s3://datasets/hamlet.txt" {
		t.Fatalf("imports %+v do not name the key", rc.Imports)
	}
	if len(rc.Published) != 2 || !rc.Published[0].OK || !rc.Published[1].OK {
		t.Fatalf("published %+v", rc.Published)
	}
	var idx publish.Index
	if err := json.Unmarshal(s3.Get(t, "results", "jobs/wc/"+publish.IndexName), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Outputs != rc.Outputs || idx.Job != j.ID {
		t.Fatalf("index %+v, receipt outputs %s job %s", idx, rc.Outputs, j.ID)
	}
	if pins := string(k.Run(t, nil, "pin", "ls", "--type=recursive", rc.Outputs)); !strings.Contains(pins, rc.Outputs) {
		t.Fatalf("kubo did not pin the outputs: %s", pins)
	}
	ls := string(k.Run(t, nil, "ls", rc.Outputs))
	if ls == "" {
		t.Fatal("kubo lists nothing under the outputs")
	}

	// A target that fails: recorded; the job fails only when required.
	dead := "ipfs+http://127.0.0.1:1"
	j, err = runJSON(t, d, "run", "wasm", wc, "--input", "s3://datasets/hamlet.txt:/inputs/hamlet.txt", "--publish", dead, "--name", "optional")
	if err != nil || j.State != api.JobCompleted {
		t.Fatalf("optional failing publish: %v %+v", err, j)
	}
	if p := j.Receipts[0].Published; len(p) != 1 || p[0].OK || p[0].Error == "" {
		t.Fatalf("published %+v, want the failure recorded", p)
	}
	j, err = runJSON(t, d, "run", "wasm", wc, "--input", "s3://datasets/hamlet.txt:/inputs/hamlet.txt", "--publish", dead,
		"--publish-required", "--name", "required", "--queue-timeout", "10s")
	if err == nil || j == nil || j.State != api.JobFailed || !strings.Contains(j.Error, "publish_failed") {
		t.Fatalf("required failing publish: %v %+v", err, j)
	}
}
