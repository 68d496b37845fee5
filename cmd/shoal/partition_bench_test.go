package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// BenchmarkPartition64: a 64-shard partitioned job across 5 nodes, each
// node holding its shards (added there, made one dataset with `shoal dir
// make`): time to completion, tasks per second and the bytes every node
// fetched in all (the goal: only outputs move), beside the baseline of one
// non-partitioned job over the whole dataset (its executor fetches what
// it lacks). SHOAL_BENCH_SHARD sets the shard size (default 256 KiB).
func BenchmarkPartition64(b *testing.B) {
	const shards, nodes = 64, 5
	size := 256 << 10
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_SHARD")); err == nil && v > 0 {
		size = v
	}
	ds := jobNetWindow(b, nodes, 0)
	req := ds[0]
	run := func(d *testnet.Daemon, args ...string) string {
		b.Helper()
		out, err := d.Run(args...)
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	wasmPath := testnet.WasmModule(b, "internal/testnet/wasm/shard")
	var module string
	for _, d := range ds {
		module = run(d, "add", "-q", wasmPath)
	}
	dir := b.TempDir()
	pairs := []string{"make", "-q"}
	for i := range shards {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		name := fmt.Sprintf("shard-%02d", i)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		pairs = append(pairs, name+"="+run(ds[i%nodes], "add", "-q", path))
	}
	dataset := run(req, append([]string{"dir"}, pairs...)...)
	spec := func(name, extra string) string {
		doc := fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\ninputs:\n  - {cid: %s, path: /inputs}\nqueue_timeout: 5m\n%s", name, module, dataset, extra)
		p := filepath.Join(b.TempDir(), name+".yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	moved := func() float64 {
		total := 0.0
		for _, d := range ds {
			total += fetchedBytes(b, d)
		}
		return total
	}
	// measure runs a spec to completion and returns its duration and the
	// bytes all nodes fetched meanwhile.
	measure := func(path string) (time.Duration, float64, *api.JobResponse) {
		before := moved()
		t0 := time.Now()
		job := run(req, "job", "run", "--detach", path)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		var j *api.JobResponse
		for {
			var err error
			if j, err = req.Client.Job(ctx, job); err == nil && j.State.Terminal() {
				break
			}
			select {
			case <-ctx.Done():
				b.Fatalf("job %s did not end", job)
			case <-time.After(20 * time.Millisecond):
			}
		}
		d := time.Since(t0)
		if j.State != api.JobCompleted {
			b.Fatalf("job %s %s: %s", job, j.State, j.Error)
		}
		return d, moved() - before, j
	}
	// A first run compiles the module on every node (a Go module takes
	// seconds to compile on a loaded machine; then it is cached): the
	// figures are of warm nodes, as the baseline's.
	measure(spec("warm-up", "reuse: never\npartition:\n  by: entry\n"))
	b.ResetTimer()
	for i := range b.N {
		pd, pBytes, pj := measure(spec(fmt.Sprintf("part-%d", i), "reuse: never\npartition:\n  by: entry\n"))
		local := 0
		for _, t := range pj.Partition.Tasks {
			if t.HeldLocally && t.BytesFetched == 0 {
				local++
			}
		}
		if os.Getenv("SHOAL_BENCH_VERBOSE") != "" {
			for _, e := range pj.Events {
				b.Logf("%s %s", e.Time.Format("15:04:05.000"), e.Message)
			}
			last := pj.Partition.Tasks[len(pj.Partition.Tasks)-1]
			if tj, err := req.Client.Job(context.Background(), last.Job); err == nil {
				for _, e := range tj.Events {
					b.Logf("  task: %s %s", e.Time.Format("15:04:05.000"), e.Message)
				}
			}
		}
		sd, sBytes, _ := measure(spec(fmt.Sprintf("whole-%d", i), "reuse: never\n"))
		b.ReportMetric(pd.Seconds(), "s-partitioned")
		b.ReportMetric(float64(shards)/pd.Seconds(), "tasks/s")
		b.ReportMetric(pBytes/(1<<20), "MiB-moved-partitioned")
		b.ReportMetric(float64(local), "tasks-local-of-64")
		b.ReportMetric(sd.Seconds(), "s-single-job")
		b.ReportMetric(sBytes/(1<<20), "MiB-moved-single-job")
		b.ReportMetric(float64(shards*size)/(1<<20), "MiB-dataset")
		if sBytes > 0 {
			b.ReportMetric(pBytes/sBytes, "ratio-bytes-partitioned/single")
		}
		b.ReportMetric(pd.Seconds()/sd.Seconds(), "ratio-time-partitioned/single")
	}
}

// fetchedBytes reads d's shoal_fetch_bytes_total.
func fetchedBytes(tb testing.TB, d *testnet.Daemon) float64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.Get(ctx, "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, "shoal_fetch_bytes_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return f
		}
	}
	return 0
}
