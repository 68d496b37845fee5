package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// Baselines measured for Bacalhau v1.9.3 on this kind of machine (issue 4).
const (
	bacalhauAPIms          = 79.5
	bacalhauCLIms          = 598.0
	bacalhauJobsPerSecHigh = 65.0
	bacalhauFailoverSec    = 77.0
	// failoverBeforeSec: kill -9 -> re-award p50 before failover by event
	// (issue 12): the requester waited for 3 missed heartbeats.
	failoverBeforeSec = 2.99
)

// The figures before issue 12 (its text) and its goals, printed beside
// each measurement.
const (
	tinyCPUBeforeMs = 4.3   // cpu-ms/job over all daemons, 5 nodes, tiny hello
	tinyCPUGoalMs   = 2.0   //
	tinyRateBefore  = 406.0 // jobs/s, median of 3 rounds
	tinyRateGoal    = 800.0 //
	apiBeforeMs     = 9.3   // submit->result p50 via API, 3 nodes
	apiGoalMs       = 5.0   //
	cliBeforeMs     = 18.0  // the same via the CLI
	cliGoalMs       = 12.0  //
)

func benchNet(b *testing.B, n int, labels ...[]string) ([]*testnet.Daemon, string) {
	b.Helper()
	// Benchmarks run the product's default bid window.
	ds := jobNetWindow(b, n, 0, labels...)
	return ds, addModule(b, ds, testnet.WasmModule(b, "examples/hello"))
}

// addModule adds the module file on every node and runs it once on each
// (it is compiled once per node, ~0.7 s of CPU for examples/hello, which
// steady-state figures leave out). It returns the module's CID.
func addModule(b *testing.B, ds []*testnet.Daemon, path string) string {
	b.Helper()
	mod := addModuleOnly(b, ds, path)
	for i, d := range ds {
		spec := fmt.Sprintf("%sconstraints:\n  executors:\n    peers: [%s]\n", helloSpec(mod, fmt.Sprintf("warm-%d-%d", i, time.Now().UnixNano())), d.ID)
		if _, err := submitWait(context.Background(), d, []byte(spec)); err != nil {
			b.Fatalf("warm-up on %s: %v", d.ID, err)
		}
	}
	return mod
}

func helloSpec(mod, name string) []byte {
	return []byte(fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [%q]\n", name, mod, name))
}

// submitWait submits spec on d through the API and waits for the result.
func submitWait(ctx context.Context, d *testnet.Daemon, spec []byte) (*api.Job, error) {
	res, err := d.Client.Submit(ctx, spec, false)
	if err != nil {
		return nil, err
	}
	j, err := d.Client.Events(ctx, res.ID, nil)
	if err != nil {
		return nil, err
	}
	if j.State != api.JobCompleted {
		return j, fmt.Errorf("job %s %s: %s", j.ID, j.State, j.Error)
	}
	return j, nil
}

// BenchmarkSubmitToResultAPI: submit→result of the hello WASM job on a
// 3-node loopback network through the HTTP API (goal p50 ≤ 25 ms).
func BenchmarkSubmitToResultAPI(b *testing.B) {
	ds, mod := benchNet(b, 3)
	ctx := context.Background()
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := submitWait(ctx, ds[i%3], helloSpec(mod, fmt.Sprintf("api-%d-%d", i, time.Now().UnixNano()))); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	p50, p95 := ms(percentile(samples, 50)), ms(percentile(samples, 95))
	b.ReportMetric(p50, "ms-p50")
	b.ReportMetric(p95, "ms-p95")
	b.ReportMetric(p50/25, "ratio-to-25ms-goal")
	b.ReportMetric(p50/bacalhauAPIms, "ratio-to-bacalhau")
	b.ReportMetric(apiBeforeMs, "ms-p50-before-issue12")
	b.ReportMetric(p50/apiGoalMs, "ratio-to-5ms-goal")
}

// BenchmarkSubmitToResultCLI: the same through `shoal run wasm` (goal p50 ≤
// 50 ms): process start, submit, event stream, stdout.
func BenchmarkSubmitToResultCLI(b *testing.B) {
	ds, mod := benchNet(b, 3)
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := ds[i%3]
		start := time.Now()
		cmd := exec.Command(d.Bin, "--repo", d.Repo, "run", "wasm", "--quiet", "--name", fmt.Sprintf("cli-%d-%d", i, time.Now().UnixNano()), mod, "--", "x")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello") {
			b.Fatalf("%v: %s", err, out)
		}
		samples = append(samples, time.Since(start))
	}
	p50, p95 := ms(percentile(samples, 50)), ms(percentile(samples, 95))
	b.ReportMetric(p50, "ms-p50")
	b.ReportMetric(p95, "ms-p95")
	b.ReportMetric(p50/50, "ratio-to-50ms-goal")
	b.ReportMetric(p50/bacalhauCLIms, "ratio-to-bacalhau")
	b.ReportMetric(cliBeforeMs, "ms-p50-before-issue12")
	b.ReportMetric(p50/cliGoalMs, "ratio-to-12ms-goal")
}

// BenchmarkThroughput: SHOAL_BENCH_JOBS (default 1000) hello jobs across 5
// nodes, submitted concurrently to all of them; jobs/s (goal ≥ 300), the
// median of SHOAL_BENCH_ROUNDS (default 3) rounds. Two modules:
// examples/hello (Go, 2.6 MB: ~6 ms of each job is Go's runtime starting)
// and testnet.TinyHello (128 bytes: the job market's own cost).
func BenchmarkThroughput(b *testing.B) {
	jobs := envInt("SHOAL_BENCH_JOBS", 1000)
	rounds := envInt("SHOAL_BENCH_ROUNDS", 3)
	ds, hello := benchNet(b, 5)
	tiny := addModule(b, ds, testnet.TinyHelloModule(b))
	// The tiny module first: each Go run's stdout is a new root to provide,
	// and that queue keeps draining for a while after the run.
	for _, mod := range []struct{ name, cid string }{{"hello-tiny", tiny}, {"hello-go", hello}} {
		b.Run(mod.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var rates, cpus, clients []float64
				for r := 0; r < rounds; r++ {
					rate, cpu, client := throughput(b, ds, mod.cid, jobs, fmt.Sprintf("%s-%d-%d", mod.name, i, r))
					rates, cpus, clients = append(rates, rate), append(cpus, cpu), append(clients, client)
				}
				rate, cpu := median(rates), median(cpus)
				b.ReportMetric(rate, "jobs/s")
				b.ReportMetric(slices.Min(rates), "jobs/s-min")
				b.ReportMetric(slices.Max(rates), "jobs/s-max")
				// CPU spent by all daemons per job: what bounds throughput
				// on a machine of N cores (N*1000/cpu-ms-per-job jobs/s),
				// whatever else runs on it during the benchmark.
				b.ReportMetric(cpu, "cpu-ms/job")
				b.ReportMetric(2000/cpu, "jobs/s-cpu-bound-2-cores")
				// The submitting client (this process: HTTP, YAML, event
				// streams) shares the two cores.
				b.ReportMetric(median(clients), "client-cpu-ms/job")
				b.ReportMetric(rate/300, "ratio-to-300-goal")
				b.ReportMetric(rate/bacalhauJobsPerSecHigh, "ratio-to-bacalhau-best")
				if mod.name == "hello-tiny" { // issue 12's figures are the tiny module's
					b.ReportMetric(tinyCPUBeforeMs, "cpu-ms/job-before-issue12")
					b.ReportMetric(cpu/tinyCPUGoalMs, "ratio-to-2ms-cpu-goal")
					b.ReportMetric(tinyRateBefore, "jobs/s-before-issue12")
					b.ReportMetric(rate/tinyRateGoal, "ratio-to-800-goal")
				}
			}
		})
	}
}

func median(v []float64) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}

// throughput submits jobs hello jobs of module mod, spread over ds, 128 at
// a time, and returns jobs/s and the CPU per job of the daemons and of
// this process.
func throughput(b *testing.B, ds []*testnet.Daemon, mod string, jobs int, tag string) (rate, cpuPerJob, clientPerJob float64) {
	ctx := context.Background()
	start := time.Now()
	cpu0, client0 := cpuOf(b, ds), selfCPU(b)
	stopProfile := profileDaemon(b, ds[0])
	var wg sync.WaitGroup
	errs := make(chan error, jobs)
	sem := make(chan struct{}, 128)
	for k := 0; k < jobs; k++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := submitWait(ctx, ds[k%len(ds)], helloSpec(mod, fmt.Sprintf("tp-%s-%d-%d", tag, k, start.UnixNano()))); err != nil {
				errs <- err
			}
		}(k)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuPerJob = (cpuOf(b, ds) - cpu0).Seconds() * 1000 / float64(jobs)
	clientPerJob = (selfCPU(b) - client0).Seconds() * 1000 / float64(jobs)
	stopProfile() // a profile lasts 8 s, maybe longer than the run
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return float64(jobs) / elapsed.Seconds(), cpuPerJob, clientPerJob
}

// BenchmarkMemoryPerJob: RSS and open fds of a daemon after 100, after
// SHOAL_BENCH_MANY (default 8000) and after twice as many jobs (goal: no
// growth beyond noise; bounded caches and pebble's memtables fill up over
// the first leg).
func BenchmarkMemoryPerJob(b *testing.B) {
	many := envInt("SHOAL_BENCH_MANY", 8000)
	ds, mod := benchNet(b, 3)
	d := ds[0]
	ctx := context.Background()
	run := func(from, to int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for k := from; k < to; k++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(k int) {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := submitWait(ctx, d, helloSpec(mod, fmt.Sprintf("mem-%d-%d", k, time.Now().UnixNano()))); err != nil {
					b.Error(err)
				}
			}(k)
		}
		wg.Wait()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(0, 100)
		rss100, fd100 := rssOf(b, d.PID()), fdsOf(b, d.PID())
		run(100, many)
		rssN, fdN := rssOf(b, d.PID()), fdsOf(b, d.PID())
		// A second leg as long again: growth that stops (caches and
		// memtables filling up to their bounds) shows as a smaller rate.
		run(many, 2*many)
		rss2N, fd2N := rssOf(b, d.PID()), fdsOf(b, d.PID())
		b.ReportMetric(float64(rss100)/(1<<20), "MiB-RSS@100")
		b.ReportMetric(float64(rssN)/(1<<20), fmt.Sprintf("MiB-RSS@%d", many))
		b.ReportMetric(float64(rss2N)/(1<<20), fmt.Sprintf("MiB-RSS@%d", 2*many))
		b.ReportMetric(float64(fd100), "fds@100")
		b.ReportMetric(float64(fdN), fmt.Sprintf("fds@%d", many))
		b.ReportMetric(float64(fd2N), fmt.Sprintf("fds@%d", 2*many))
		b.ReportMetric(float64(rssN-rss100)/float64(many-100)/1024, "KiB-RSS-growth/job-first-leg")
		b.ReportMetric(float64(rss2N-rssN)/float64(many)/1024, "KiB-RSS-growth/job-second-leg")
		// With SHOAL_PPROF=1: how much of the RSS is Go's (the rest is C
		// memory: pebble's memtables and block cache).
		saveHeapProfile(b, d)
		b.Logf("open files after %d jobs: %v", 2*many, fdKinds(d.PID()))
		if held, inuse, ok := goMemOf(d); ok {
			b.ReportMetric(float64(held)/(1<<20), fmt.Sprintf("MiB-Go-held@%d", 2*many))
			b.ReportMetric(float64(inuse)/(1<<20), fmt.Sprintf("MiB-Go-heap-inuse@%d", 2*many))
			b.ReportMetric(float64(rss2N-held)/(1<<20), fmt.Sprintf("MiB-non-Go@%d", 2*many))
		}
	}
}

// BenchmarkFailover: time from kill -9 of the executor of a running job to
// the job being awarded to another node (goal ≤ 0.5 s p50, issue 12; it was
// 2.99 s before failover by event).
func BenchmarkFailover(b *testing.B) {
	p50 := failoverBench(b, "fo", func(d *testnet.Daemon) func() {
		d.Kill()
		return func() {}
	})
	b.ReportMetric(ms(p50), "ms-p50-kill-to-reaward")
	b.ReportMetric(p50.Seconds()/5, "ratio-to-5s-goal")
	b.ReportMetric(p50.Seconds()/bacalhauFailoverSec, "ratio-to-bacalhau")
	b.ReportMetric(failoverBeforeSec*1000, "ms-p50-before-issue12")
	b.ReportMetric(p50.Seconds()/0.5, "ratio-to-0.5s-goal")
}

// BenchmarkFailoverPartition: time from a silent partition of the executor
// of a running job (every packet to and from its swarm ports dropped on
// loopback, no connection closed: testnet.Cut) to the job being awarded to
// another node (goal ≤ 3.5 s p50, issue 12). Nothing tells the requester;
// it fails over when MissedHeartbeats × HeartbeatInterval (3 s) passed
// since the last Status, so the figure is 2–3 s plus the re-award.
func BenchmarkFailoverPartition(b *testing.B) {
	p50 := failoverBench(b, "fo-cut", func(d *testnet.Daemon) func() {
		p := testnet.Cut(b, d)
		return func() {
			if err := p.Heal(); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(ms(p50), "ms-p50-cut-to-reaward")
	b.ReportMetric(ms(bidding.HeartbeatInterval*bidding.MissedHeartbeats), "ms-heartbeat-deadline")
	b.ReportMetric(p50.Seconds()/3.5, "ratio-to-3.5s-goal")
}

// failoverBench runs b.N jobs on fresh 3-node networks (a requester, two
// workers), cuts off the executor of each job with cut once the job runs
// on it, and returns the p50 of the time from the cut to the job's next
// award, as the requester's event stream shows it. cut returns what undoes
// it before the network stops.
func failoverBench(b *testing.B, tag string, cut func(*testnet.Daemon) func()) time.Duration {
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ds, _ := benchNet(b, 3, nil, []string{"role=worker"}, []string{"role=worker"})
		a := ds[0]
		sleep := testnet.WasmModule(b, "internal/testnet/wasm/sleep")
		out, err := a.Run("add", "-q", sleep)
		if err != nil {
			b.Fatal(err)
		}
		spec := fmt.Sprintf("name: %s-%d-%d\nengine:\n  wasm:\n    module: %s\n    args: [\"3s\"]\nconstraints:\n  labels: {role: worker}\n", tag, i, time.Now().UnixNano(), strings.TrimSpace(out))
		res, err := a.Client.Submit(context.Background(), []byte(spec), false)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var cutAt time.Time
		var took time.Duration
		undo := func() {}
		var mu sync.Mutex
		_, err = a.Client.Events(context.Background(), res.ID, func(e api.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case cutAt.IsZero() && strings.HasPrefix(e.Message, "running on "):
				for _, d := range ds[1:] {
					if d.ID == e.Peer {
						undo = cut(d)
						cutAt = time.Now()
					}
				}
			case !cutAt.IsZero() && took == 0 && strings.HasPrefix(e.Message, "awarded to "):
				took = time.Since(cutAt)
			}
		})
		if err != nil || took == 0 {
			b.Fatalf("no re-award after the cut: %v", err)
		}
		samples = append(samples, took)
		b.StopTimer()
		undo()
		for _, d := range ds {
			d.Stop()
		}
		b.StartTimer()
	}
	return percentile(samples, 50)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func fdsOf(b testing.TB, pid int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(entries)
}

// cpuOf sums the user+system CPU time of the daemons' processes.
func cpuOf(b testing.TB, ds []*testnet.Daemon) time.Duration {
	var total time.Duration
	for _, d := range ds {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(d.PID()) + "/stat")
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which may contain spaces).
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	return total
}

// selfCPU is the CPU time this process used so far.
func selfCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileDaemon writes a CPU profile of d to $SHOAL_BENCH_PROFILE while the
// benchmark runs, when that variable is set (the daemons also need
// SHOAL_PPROF=1). The returned function waits for the profile.
func profileDaemon(b *testing.B, d *testnet.Daemon) func() {
	out := os.Getenv("SHOAL_BENCH_PROFILE")
	if out == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		saveProfile(b, d, "profile?seconds=8", out)
	}()
	return func() { <-done }
}

// saveProfile writes d's pprof endpoint /debug/pprof/<what> to the file out.
func saveProfile(b *testing.B, d *testnet.Daemon, what, out string) {
	resp, err := d.Get(context.Background(), "/debug/pprof/"+what)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// goMemOf reads the Go runtime's memory figures of d from its pprof
// endpoint (daemons started with SHOAL_PPROF=1): bytes obtained from the
// OS and not returned (Sys - HeapReleased), and the heap in use. ok is
// false without the endpoint.
func goMemOf(d *testnet.Daemon) (held, inuse int64, ok bool) {
	resp, err := d.Get(context.Background(), "/debug/pprof/heap?debug=1")
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, false
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, false
	}
	stats := map[string]int64{}
	for _, line := range strings.Split(string(body), "\n") {
		var name string
		var v int64
		if n, _ := fmt.Sscanf(line, "# %s = %d", &name, &v); n == 2 {
			stats[name] = v
		}
	}
	sys, okSys := stats["Sys"]
	if !okSys {
		return 0, 0, false
	}
	return sys - stats["HeapReleased"], stats["HeapInuse"], true
}

// saveHeapProfile writes d's heap profile to $SHOAL_BENCH_HEAP when set
// (the daemons need SHOAL_PPROF=1).
func saveHeapProfile(b *testing.B, d *testnet.Daemon) {
	if out := os.Getenv("SHOAL_BENCH_HEAP"); out != "" {
		saveProfile(b, d, "heap?gc=1", out)
	}
}

// fdKinds counts a process's open files by kind: sockets, pipes, and files
// by extension (pebble's tables and logs, ...).
func fdKinds(pid int) map[string]int {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, e := range ents {
		t, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(t, "socket:"):
			out["socket"]++
		case strings.HasPrefix(t, "pipe:"):
			out["pipe"]++
		case strings.HasPrefix(t, "anon_inode:"):
			out[t]++
		default:
			ext := filepath.Ext(t)
			if ext == "" {
				ext = filepath.Base(t)
			}
			out[ext]++
		}
	}
	return out
}

// BenchmarkMemoHit: submit→result of a memo hit, from a node that never
// saw the job, on 5 nodes (goal p50 ≤ 20 ms, the receipt lookup
// included), beside a fresh run of the same job in the same iteration.
// Each iteration is a new job: node 0 runs it on node 1 (an executor of
// an org every node trusts) through the API, node 1 publishes its receipt
// record, then node 2, 3 or 4 submits the same spec and gets the reused
// receipt without any execution.
func BenchmarkMemoHit(b *testing.B) {
	ds := jobNetConfig(b, 5, 0, publishAll) // hello runs in a few ms
	mod := addModule(b, ds, testnet.WasmModule(b, "examples/hello"))
	run := func(d *testnet.Daemon, args ...string) string {
		b.Helper()
		out, err := d.Run(args...)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	out := run(ds[0], "org", "init", "acme")
	key := strings.Fields(strings.Split(out, "\n")[1])[0]
	cert := filepath.Join(b.TempDir(), "exec.cert")
	run(ds[0], "org", "issue", "--org", "acme", "--role", "executor", ds[1].ID, "-o", cert)
	run(ds[1], "org", "join", cert)
	for _, d := range ds[2:] {
		run(d, "org", "trust", "acme", key)
	}
	ctx := context.Background()
	var hits, fresh []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := fmt.Appendf(nil, "%sconstraints:\n  executors:\n    peers: [%s]\n", helloSpec(mod, fmt.Sprintf("memo-%d-%d", i, time.Now().UnixNano())), ds[1].ID)
		start := time.Now()
		j, err := submitWait(ctx, ds[0], spec)
		if err != nil {
			b.Fatal(err)
		}
		fresh = append(fresh, time.Since(start))
		b.StopTimer()
		waitLog(b, ds[1], time.Minute, "receipt record published", j.ID)
		b.StartTimer()
		start = time.Now()
		hit, err := submitWait(ctx, ds[2+i%3], spec)
		if err != nil {
			b.Fatal(err)
		}
		hits = append(hits, time.Since(start))
		if len(hit.Receipts) != 1 || !hit.Receipts[0].Reused || hit.Receipts[0].Stdout != j.Receipts[0].Stdout {
			b.Fatalf("not a memo hit: %+v", hit.Receipts)
		}
	}
	p50, p95, f50 := ms(percentile(hits, 50)), ms(percentile(hits, 95)), ms(percentile(fresh, 50))
	b.ReportMetric(p50, "ms-p50-hit")
	b.ReportMetric(p95, "ms-p95-hit")
	b.ReportMetric(f50, "ms-p50-fresh")
	b.ReportMetric(p50/f50, "ratio-hit-to-fresh")
	b.ReportMetric(p50/20, "ratio-to-20ms-goal")
}
