package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// Partitioned jobs on real daemons (docs/jobspec.md, partition): a
// dataset whose shards were added on three different nodes, made one
// directory with `shoal dir make` on a fourth (the requester), is split
// into one task per shard; each task runs on its shard's holder and
// fetches nothing, sees only its entry and its partition environment; a
// holder without the capacity a job needs leaves its task to another node,
// which fetches the shard; a task that keeps failing is retried on another
// node, then fails the job naming it.

const shardSize = 192 << 10

// partNet starts the requester and three holders; the third holder offers
// 384 MiB of memory to jobs (a job asking for 512 MiB does not fit it).
func partNet(t *testing.T) (req *testnet.Daemon, holders []*testnet.Daemon) {
	t.Helper()
	cfg := func(mem int64) func(string) error {
		return testnet.EditConfig(func(c *node.Config) {
			c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
			c.Jobs.DisableDocker = true
			c.Jobs.BidWindow = node.Duration(2 * time.Second)
			c.Capabilities.Memory = mem
		})
	}
	req = testnet.Start(t, testnet.Options{Configure: cfg(0)})
	boot := []string{req.TCPAddr()}
	for i := range 3 {
		mem := int64(0)
		if i == 2 {
			mem = 384 << 20
		}
		holders = append(holders, testnet.Start(t, testnet.Options{Configure: cfg(mem), Bootstrap: boot}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range append([]*testnet.Daemon{req}, holders...) {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: 3, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	return req, holders
}

// fetched reads each daemon's shoal_fetch_bytes_total.
func fetched(t *testing.T, ds []*testnet.Daemon) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, d := range ds {
		out[d.ID] = metricValue(scrape(t, d), "shoal_fetch_bytes_total")
	}
	return out
}

// partSpec writes a partitioned job's spec over dir and returns its path.
func partSpec(t *testing.T, name, module, dir string, args []string, extra string) string {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	doc := fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [%s]\ninputs:\n  - {cid: %s, path: /inputs}\nqueue_timeout: 2m\npartition:\n  by: entry\n%s",
		name, module, strings.Join(quoted, ", "), dir, extra)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func partDone(t *testing.T, d *testnet.Daemon, job string) *api.JobResponse {
	t.Helper()
	trPoll(t, d, job, 3*time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
	j, err := d.Client.Job(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestPartitionPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and runs partitioned jobs")
	}
	req, holders := partNet(t)
	all := append([]*testnet.Daemon{req}, holders...)
	wasmPath := testnet.WasmModule(t, "internal/testnet/wasm/shard")
	var module string
	for _, d := range all { // every node holds the module: only shards may move
		module = addQ(t, d, wasmPath)
	}
	names := []string{"a.bin", "b.bin", "c.bin"}
	holderOf := map[string]string{}
	var pairs []string
	for i, h := range holders {
		data := make([]byte, shardSize)
		_, _ = rand.Read(data)
		c := addQ(t, h, writeFile(t, names[i], data))
		holderOf[names[i]] = h.ID
		pairs = append(pairs, names[i]+"="+c)
	}
	dir := strings.TrimSpace(trRun(t, req, append([]string{"dir", "make", "-q"}, pairs...)...))

	t.Run("each task on its shard's holder", func(t *testing.T) {
		before := fetched(t, all)
		job := trSubmit(t, req, partSpec(t, "local", module, dir, nil, ""))
		j := partDone(t, req, job)
		after := fetched(t, all)
		if j.State != api.JobCompleted || j.Type != "partition" || j.Partition == nil || j.Partition.Result == "" {
			t.Fatalf("job %s %s (%s): %+v", job, j.State, j.Error, j.Partition)
		}
		for _, task := range j.Partition.Tasks {
			if task.Executor != holderOf[task.Shard] || !task.HeldLocally || task.BytesFetched != 0 || task.State != api.JobCompleted {
				t.Errorf("task %d (%s): executor %s held %v fetched %d state %s; want its holder %s, held, 0", task.Index, task.Shard,
					task.Executor, task.HeldLocally, task.BytesFetched, task.State, holderOf[task.Shard])
			}
		}
		for _, h := range holders {
			if moved := after[h.ID] - before[h.ID]; moved >= shardSize/4 {
				t.Errorf("holder %s fetched %.0f bytes; its task's shard was local", h.ID, moved)
			}
		}
		// The result holds task i's outputs under /i/: each task saw only
		// its entry, and its partition environment.
		out := filepath.Join(t.TempDir(), "result")
		trRun(t, req, "get", j.Partition.Result, "-o", out)
		for i, name := range names {
			b, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "info.txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("index=%d count=3 job=%s files=/inputs/%s:%d\n", i, job, name, shardSize)
			if string(b) != want {
				t.Errorf("task %d saw %q, want %q", i, b, want)
			}
		}
		// The CLI shows the table, and the list the parent with its tasks.
		desc := trRun(t, req, "job", "describe", job)
		if !strings.Contains(desc, "HELD LOCALLY") || !strings.Contains(desc, holders[1].ID) {
			t.Errorf("describe has no task table:\n%s", desc)
		}
		if list := trRun(t, req, "job", "list"); !strings.Contains(list, "partitioned: 3 tasks") || !strings.Contains(list, "└ ") {
			t.Errorf("job list:\n%s", list)
		}
	})

	t.Run("a holder without capacity", func(t *testing.T) {
		before := fetched(t, all)
		job := trSubmit(t, req, partSpec(t, "big", module, dir, nil, "resources:\n  memory: 512MiB\n"))
		j := partDone(t, req, job)
		after := fetched(t, all)
		if j.State != api.JobCompleted {
			t.Fatalf("job %s %s: %s", job, j.State, j.Error)
		}
		for _, task := range j.Partition.Tasks {
			small := task.Shard == "c.bin"
			switch {
			case !small && (task.Executor != holderOf[task.Shard] || task.BytesFetched != 0):
				t.Errorf("task %d (%s) on %s fetched %d, want its holder, 0", task.Index, task.Shard, task.Executor, task.BytesFetched)
			case small && (task.Executor == holders[2].ID || task.Executor == "" || task.HeldLocally || task.BytesFetched < shardSize):
				t.Errorf("task %d (%s) on %s held %v fetched %d: want another node than its holder %s, fetching the shard",
					task.Index, task.Shard, task.Executor, task.HeldLocally, task.BytesFetched, holders[2].ID)
			case small:
				if moved := after[task.Executor] - before[task.Executor]; moved < shardSize {
					t.Errorf("executor %s of the shard it lacked fetched %.0f bytes, want at least %d", task.Executor, moved, shardSize)
				}
			}
		}
	})

	t.Run("a failing task is retried elsewhere, then fails the job", func(t *testing.T) {
		job := trSubmit(t, req, partSpec(t, "failing", module, dir, []string{"fail=1"}, ""))
		j := partDone(t, req, job)
		if j.State != api.JobFailed || !strings.Contains(j.Error, "task 1 (b.bin") || !strings.Contains(j.Error, "2 attempt(s)") {
			t.Fatalf("job %s %s: %q, want failed naming task 1 (b.bin) after 2 attempts", job, j.State, j.Error)
		}
		task := j.Partition.Tasks[1]
		if task.Attempts != 2 || len(task.Failed) != 2 || !slices.Contains(task.Failed, holders[1].ID) || task.Failed[0] == task.Failed[1] {
			t.Fatalf("task 1: attempts %d, failed on %v; want 2 attempts on 2 nodes, first its holder %s", task.Attempts, task.Failed, holders[1].ID)
		}
		if o := j.Partition.Tasks[0]; o.State != api.JobCompleted {
			t.Errorf("task 0: %s, want completed", o.State)
		}
	})

	t.Run("spec errors", func(t *testing.T) {
		file := addQ(t, req, writeFile(t, "f.txt", []byte("a file")))
		out, err := req.Run("job", "run", "--detach", partSpec(t, "notdir", module, file, nil, ""))
		if err == nil || !strings.Contains(out+err.Error(), "is not a directory") {
			t.Fatalf("a file as by: entry input: %v\n%s", err, out)
		}
		out, err = req.Run("run", "wasm", "--partition", "shard", "--input", dir+":/inputs", module)
		if err == nil || !strings.Contains(out+err.Error(), "use entry") {
			t.Fatalf("--partition shard: %v\n%s", err, out)
		}
	})
}

// TestPartitionRequesterRestart: the requester is killed while a
// partitioned job runs one task at a time; restarted, it resumes the job
// from its record, and every task ran exactly once.
func TestPartitionRequesterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and kills one")
	}
	req, holders := partNet(t)
	all := append([]*testnet.Daemon{req}, holders...)
	wasmPath := testnet.WasmModule(t, "internal/testnet/wasm/shard")
	var module string
	for _, d := range all {
		module = addQ(t, d, wasmPath)
	}
	var pairs []string
	for i, h := range holders {
		c := addQ(t, h, writeFile(t, fmt.Sprintf("s%d", i), []byte(strings.Repeat(fmt.Sprint(i), 1000))))
		pairs = append(pairs, fmt.Sprintf("s%d=%s", i, c))
	}
	dir := strings.TrimSpace(trRun(t, req, append([]string{"dir", "make", "-q"}, pairs...)...))
	before := executions(t, all)
	job := trSubmit(t, req, partSpec(t, "restart", module, dir, []string{"sleep=1500ms"}, "  max_parallel: 1\nreuse: never\n"))
	// Killed once task 0 completed and task 1 runs (its award recorded
	// as accepted: an award the record does not hold yet is re-offered
	// after a restart, which the market's failover tests cover).
	trPoll(t, req, job, 2*time.Minute, func(j *api.Job) bool {
		if j.Partition == nil || j.Partition.Tasks[0].State != api.JobCompleted || j.Partition.Tasks[1].Attempts == 0 {
			return false
		}
		t1, err := req.Client.Job(context.Background(), j.Partition.Tasks[1].Job)
		return err == nil && t1.State == api.JobRunning
	})
	j0, err := req.Client.Job(context.Background(), func() string {
		j, _ := req.Client.Job(context.Background(), job)
		return j.Partition.Tasks[0].Job
	}())
	if err != nil || len(j0.Receipts) != 1 {
		t.Fatalf("task 0 before the kill: %v %+v", err, j0)
	}
	receipt0 := j0.Receipts[0].CID
	req.Kill()
	<-req.Done()
	if err := req.Restart([]string{holders[0].TCPAddr()}); err != nil {
		t.Fatal(err)
	}
	j := partDone(t, req, job)
	if j.State != api.JobCompleted || j.Partition.Result == "" {
		t.Fatalf("job %s after the restart: %s (%s)", job, j.State, j.Error)
	}
	if !hasEvent(&j.Job, "submitted task(s) 0") {
		t.Errorf("no event of task 0's submission: the record was not resumed")
	}
	after := executions(t, all)
	total := int64(0)
	for id, n := range after {
		total += n - before[id]
	}
	// Exactly one execution per task: the restarted requester re-attached
	// to the award in flight by Query (retried until it was back on the
	// network) instead of failing it over, so no task ran again and no
	// late receipt came back. Task 0 completed before the kill: it kept
	// its one receipt.
	for _, x := range j.Partition.Tasks {
		tj, err := req.Client.Job(context.Background(), x.Job)
		if err != nil {
			t.Fatal(err)
		}
		if len(tj.Late) != 0 {
			t.Errorf("task %d: late receipts %+v: it ran again after the restart", x.Index, tj.Late)
		}
		if x.Index == 0 && (len(tj.Receipts) != 1 || tj.Receipts[0].CID != receipt0) {
			t.Errorf("task 0, completed before the kill, ran again: receipts %+v, late %+v", tj.Receipts, tj.Late)
		}
	}
	if total != 3 {
		for _, x := range j.Partition.Tasks {
			if tj, err := req.Client.Job(context.Background(), x.Job); err == nil {
				for _, e := range tj.Events {
					t.Logf("task %d: %s %s", x.Index, e.Time.Format("15:04:05.000"), e.Message)
				}
			}
		}
		t.Fatalf("%d executions for 3 tasks, want exactly one per task (%v → %v)", total, before, after)
	}
	for _, task := range j.Partition.Tasks {
		if task.Attempts != 1 {
			t.Errorf("task %d: %d attempts, want 1", task.Index, task.Attempts)
		}
	}

	// Cancelling the job cancels its task in flight, and no task starts.
	job = trSubmit(t, req, partSpec(t, "cancel", module, dir, []string{"sleep=30s"}, "  max_parallel: 1\nreuse: never\n"))
	first := trPoll(t, req, job, time.Minute, func(j *api.Job) bool {
		return j.Partition != nil && j.Partition.Tasks[0].Attempts == 1
	}).Partition.Tasks[0].Job
	trRun(t, req, "job", "cancel", job)
	j = partDone(t, req, job)
	if j.State != api.JobCancelled {
		t.Fatalf("cancelled job %s: %s", job, j.State)
	}
	task := trDone(t, req, first)
	if task.State != api.JobCancelled {
		t.Errorf("task 0 of the cancelled job: %s, want cancelled", task.State)
	}
	for _, x := range j.Partition.Tasks[1:] {
		if x.Attempts != 0 {
			t.Errorf("task %d of the cancelled job was submitted", x.Index)
		}
	}
}
