package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/node/api"
)

// partitionFlags split a `shoal run` job into tasks (docs/jobspec.md,
// partition).
func partitionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "partition", Usage: "entry: one task per entry of the directory input at --partition-input; input: one task per --input"},
		&cli.StringFlag{Name: "partition-input", Usage: "with --partition entry: the path of the directory input to split (default " + jobspec.DefaultPartitionInput + ")"},
		&cli.IntFlag{Name: "max-parallel", Usage: "with --partition: at most this many tasks at once (default all)"},
		&cli.IntFlag{Name: "retries", Value: jobspec.DefaultRetries, Usage: "with --partition: run a failed task again on another node this many times"},
	}
}

// partitionFromFlags sets the spec's partition from the flags.
func partitionFromFlags(c *cli.Context, spec *jobspec.Spec) error {
	by := c.String("partition")
	if by == "" {
		for _, f := range []string{"partition-input", "max-parallel", "retries"} {
			if c.IsSet(f) {
				return fmt.Errorf("--%s applies to a partitioned job: add --partition entry|input", f)
			}
		}
		return nil
	}
	if by != string(jobspec.ByEntry) && by != string(jobspec.ByInput) {
		return fmt.Errorf("--partition %q: use entry (one task per directory entry) or input (one task per --input)", by)
	}
	p := &jobspec.Partition{By: jobspec.PartitionBy(by), Input: c.String("partition-input"), MaxParallel: c.Int("max-parallel")}
	if c.IsSet("retries") {
		r := c.Int("retries")
		p.Retries = &r
	}
	spec.Partition = p
	return nil
}

// printPartition prints a partitioned job's task table (job describe).
func printPartition(p *api.Partition) {
	fmt.Printf("\nPartition: by %s", p.By)
	if p.Input != "" {
		fmt.Printf(" of %s", p.Input)
	}
	par := "all"
	if p.MaxParallel > 0 {
		par = strconv.Itoa(p.MaxParallel)
	}
	fmt.Printf(", %d task(s), %s at once, %d retr(ies)\n", len(p.Tasks), par, p.Retries)
	if p.Result != "" {
		fmt.Printf("Result:   %s (task i's outputs under /i/)\n", p.Result)
	}
	w := table()
	fmt.Fprintln(w, "  TASK\tSHARD\tEXECUTOR\tHELD LOCALLY\tBYTES FETCHED\tSTATE\tATTEMPTS\tJOB")
	for _, t := range p.Tasks {
		exec, held, fetched := "-", "-", "-"
		if t.Executor != "" {
			exec, held, fetched = t.Executor, "no", humanBytes(t.BytesFetched)
			if t.HeldLocally {
				held = "yes"
			}
		}
		state := string(t.State)
		if state == "" {
			state = "waiting"
		}
		fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", t.Index, t.Shard, exec, held, fetched, state, t.Attempts, t.Job)
	}
	w.Flush()
}

// partitionOutcome prints a partitioned job's end (follow): the result
// directory's CID on stdout.
func partitionOutcome(c *cli.Context, final *api.Job) {
	p := final.Partition
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "job %s %s: %d task(s); result: %s\n", final.ID, final.State, len(p.Tasks), p.Result)
	}
	if p.Result != "" {
		fmt.Println(p.Result)
	}
}

// listOrder puts each partitioned job's tasks right after it (newest
// parent first, tasks by creation); tasks whose parent is not listed stay
// where they are.
func listOrder(jobs []api.JobSummary) []api.JobSummary {
	parents := map[string]bool{}
	tasks := map[string][]api.JobSummary{}
	for _, j := range jobs {
		if j.Type == "partition" {
			parents[j.ID] = true
		}
	}
	var out []api.JobSummary
	for _, j := range jobs {
		if j.Parent != "" && parents[j.Parent] {
			tasks[j.Parent] = append([]api.JobSummary{j}, tasks[j.Parent]...) // the list is newest first
			continue
		}
		out = append(out, j)
	}
	var final []api.JobSummary
	for _, j := range out {
		final = append(final, j)
		final = append(final, tasks[j.ID]...)
	}
	return final
}
