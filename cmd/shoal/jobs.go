package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/internal/untar"
	"github.com/shoalnet/shoal/node/api"
)

var (
	detachFlag = &cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "print the job ID and return instead of waiting"}
	quietFlag  = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines, only the job's stdout"}
	// noReuseFlag: run afresh, whatever receipt of the job the network
	// holds (docs/jobspec.md "reuse"); it does not change the job ID.
	noReuseFlag = &cli.BoolFlag{Name: "no-reuse", Usage: "run the job afresh: reuse no receipt of it the network holds (a job this node completed runs again)"}
)

// submitOptions are the submission options of the command's flags.
// submitOptions are the flags of a submission: --no-reuse and --secret.
func submitOptions(c *cli.Context) (api.SubmitOptions, error) {
	vals, err := secretValues(c)
	return api.SubmitOptions{NoReuse: c.Bool("no-reuse"), Secrets: vals}, err
}

func jobCmd() *cli.Command {
	return &cli.Command{
		Name:  "job",
		Usage: "submit and follow jobs",
		Subcommands: []*cli.Command{
			jobValidateCmd(),
			{
				Name:      "run",
				Usage:     "submit a job spec (YAML or JSON) or resubmit one by CID, and wait for its result",
				ArgsUsage: "SPEC.yaml | --cid CID",
				Description: `The spec is encoded canonically; its CID is the job ID. Waits for the result by
default (live progress on a terminal), then prints the job's stdout; the outputs
CID goes to stderr. See docs/jobspec.md.

Local files the spec names where a CID is wanted (module: ./hello.wasm,
inputs: [{src: ./corpus, path: /inputs}], relative to the spec file) are
added to this node first, as ` + "`shoal run --input ./dir`" + ` adds them, and the
spec is submitted with their CIDs. ` + "`shoal job validate`" + ` checks a spec first.

Example:
   shoal job run examples/jobs/wordcount.yaml
   shoal job run --cid bafyrei...      # run a spec someone published
   shoal job run --no-reuse job.yaml   # run afresh even if the network holds a result

A deterministic job (docs/jobspec.md) whose receipt the network holds from an
executor of an org this node trusts completes at once, without an execution:
` + "`shoal job describe`" + ` then says "reused receipt of <executor> from <time>".`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "cid", Usage: "run the spec block with this CID (fetched from the network)"},
					secretFlag, detachFlag, quietFlag, jsonFlag, noReuseFlag,
				},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					var res *api.SubmitResponse
					switch {
					case c.String("cid") != "":
						if c.NArg() > 0 {
							return errors.New("give either SPEC or --cid, not both")
						}
						opts, oerr := submitOptions(c)
						if oerr != nil {
							return oerr
						}
						res, err = cl.SubmitCIDWith(c.Context, c.String("cid"), opts)
					case c.NArg() == 1:
						return runSpecFile(c, cl, c.Args().First())
					default:
						return errors.New("job run needs one SPEC file or --cid CID; see `shoal job run --help`")
					}
					if err != nil {
						return err
					}
					return follow(c, cl, res)
				},
			},
			{
				Name: "wait", Usage: "wait for a job to end, then print its stdout like `job run`", ArgsUsage: "JOB",
				Description: "Example:\n   JOB=$(shoal run wasm mod.wasm --detach) && shoal job wait $JOB",
				Flags:       []cli.Flag{quietFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					cl, j, err := jobArg(c)
					if err != nil {
						return err
					}
					return follow(c, cl, &api.SubmitResponse{ID: j.ID, Existing: true, State: j.State})
				},
			},
			{
				Name: "list", Usage: "list the jobs this node submitted", Flags: []cli.Flag{jsonFlag},
				Description: "Example:\n   shoal job list --json",
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					jobs, err := cl.Jobs(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(jobs)
					}
					w := table()
					fmt.Fprintln(w, "JOB\tNAME\tENGINE\tSTATE\tCREATED")
					for _, j := range listOrder(jobs) {
						name := j.Name
						if j.Type == "partition" {
							name = fmt.Sprintf("%s (partitioned: %d tasks)", j.Name, j.Count)
						}
						id := j.ID
						if j.Parent != "" {
							id = "  └ " + id // a task, under its parent
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, name, j.Engine, j.State, j.Created.Local().Format(time.DateTime))
					}
					return w.Flush()
				},
			},
			{
				Name: "describe", Usage: "show a job: spec, bids with reasons, placement, events, receipts", ArgsUsage: "JOB",
				Description: "Example:\n   shoal job describe bafyrei...",
				Flags:       []cli.Flag{jsonFlag},
				Action:      describeJob,
			},
			jobLogsCommand(),
			{
				Name: "get", Usage: "fetch a job's outputs", ArgsUsage: "JOB",
				Description: `Fetches the outputs from every node that provides them (the executor, or any
node that pinned them: the DHT lists them), with progress on a terminal, and
writes them to -o DIR. An interrupted get resumes: blocks already in the
daemon are not fetched again, and files already written whole (kept in
.DIR.shoal-partial-CID beside DIR until the end) are not written again; run
the same command again. --car FILE writes a CARv1 instead (FILE.N for the
N-th receipt of a job with several).

Example:
   shoal job get bafyrei... -o ./results
   shoal job get bafyrei... --car results.car`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "directory to write (default ./JOB)"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing non-empty path (no resume)"},
					&cli.StringFlag{Name: "car", Usage: carFlagUsage},
				},
				Action: func(c *cli.Context) error {
					cl, j, err := jobArg(c)
					if err != nil {
						return err
					}
					if p := j.Partition; p != nil {
						if p.Result == "" {
							return fmt.Errorf("partitioned job %s has no result yet (state %s)", j.ID, j.State)
						}
						j.Receipts = []api.Receipt{{Outputs: p.Result}} // one directory: task i under /i/
					}
					if len(j.Receipts) == 0 {
						return fmt.Errorf("job %s has no receipt yet (state %s)", j.ID, j.State)
					}
					dest := c.String("output")
					if dest == "" {
						dest = j.ID
					}
					for i, r := range j.Receipts {
						if r.Outputs == "" {
							continue
						}
						d := dest
						if len(j.Receipts) > 1 {
							d = filepath.Join(dest, fmt.Sprintf("%d-%s", i, r.Executor))
						}
						if car := c.String("car"); car != "" {
							if len(j.Receipts) > 1 {
								car = fmt.Sprintf("%s.%d", car, i)
							}
							if err := fetchProgress(c.Context, cl, r.Outputs); err != nil {
								return err
							}
							if err := exportCAR(c.Context, cl, r.Outputs, car, c.Bool("force")); err != nil {
								return err
							}
							fmt.Fprintf(os.Stderr, "outputs %s saved as CAR to %s\n", r.Outputs, car)
							continue
						}
						if err := getResume(c.Context, cl, r.Outputs, d, c.Bool("force")); err != nil {
							return err
						}
						fmt.Fprintf(os.Stderr, "outputs %s saved to %s\n", r.Outputs, d)
					}
					return nil
				},
			},
			{
				Name: "cancel", Usage: "cancel a job", ArgsUsage: "JOB",
				Description: "Example:\n   shoal job cancel bafyrei...",
				Action: func(c *cli.Context) error {
					cl, j, err := jobArg(c)
					if err != nil {
						return err
					}
					if err := cl.CancelJob(c.Context, j.ID); err != nil {
						return err
					}
					fmt.Printf("cancelled %s\n", j.ID)
					return nil
				},
			},
		},
	}
}

func jobArg(c *cli.Context) (*api.Client, *api.JobResponse, error) {
	if c.NArg() != 1 {
		return nil, nil, fmt.Errorf("%s takes one JOB ID; see `shoal job %s --help`", c.Command.Name, c.Command.Name)
	}
	cl, err := client(c)
	if err != nil {
		return nil, nil, err
	}
	j, err := cl.Job(c.Context, c.Args().First())
	return cl, j, err
}

func catTo(ctx context.Context, cl *api.Client, id string, w io.Writer) error {
	rc, err := cl.Cat(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// fetchProgress makes id local on the daemon, with a progress bar on a
// terminal and a summary line otherwise.
func fetchProgress(ctx context.Context, cl *api.Client, id string) error {
	var bar *progressbar.ProgressBar
	last, err := cl.Fetch(ctx, id, func(e api.FetchEvent) {
		if bar == nil && e.Total > 0 {
			bar = newBar(e.Total, "fetching")
		}
		if bar != nil {
			_ = bar.Set64(e.Bytes)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if !interactive() {
		fmt.Fprintf(os.Stderr, "fetched %s: %d bytes in %d blocks\n", id, last.Bytes, last.Blocks)
	}
	return nil
}

// getResume fetches id and writes it to dest, resuming an interrupted run
// (untar.ExtractResume); with force it replaces dest instead.
func getResume(ctx context.Context, cl *api.Client, id, dest string, force bool) error {
	if force {
		if err := fetchProgress(ctx, cl, id); err != nil {
			return err
		}
		return getTo(ctx, cl, id, dest, true)
	}
	if err := checkDest(dest, false); err != nil {
		return err
	}
	if err := fetchProgress(ctx, cl, id); err != nil {
		return err
	}
	rc, err := cl.GetTar(ctx, id, topName)
	if err != nil {
		return err
	}
	defer rc.Close()
	kept, err := untar.ExtractResume(rc, dest, topName, id)
	if err != nil {
		return err
	}
	if kept.Files > 0 {
		fmt.Fprintf(os.Stderr, "resumed: kept %d files (%d bytes) written by an earlier run\n", kept.Files, kept.Bytes)
	}
	return nil
}

func getTo(ctx context.Context, cl *api.Client, id, dest string, force bool) error {
	if err := checkDest(dest, force); err != nil {
		return err
	}
	if _, err := cl.Fetch(ctx, id, nil); err != nil {
		return err
	}
	rc, err := cl.GetTar(ctx, id, topName)
	if err != nil {
		return err
	}
	defer rc.Close()
	return extractTar(rc, dest, force)
}

// follow waits for a submitted job (unless --detach), showing its events on
// a terminal, then prints its stdout and outputs.
func follow(c *cli.Context, cl *api.Client, res *api.SubmitResponse) error {
	if c.Bool("detach") {
		fmt.Println(res.ID)
		return nil
	}
	start := time.Now()
	show := interactive() && !c.Bool("quiet") && !c.Bool("json")
	if show {
		if res.Existing {
			fmt.Fprintf(os.Stderr, "job %s exists already (same spec): following it\n", res.ID)
		} else {
			fmt.Fprintf(os.Stderr, "job %s submitted\n", res.ID)
		}
	}
	// On a terminal the job's stdout and stderr show as it prints them.
	var waitLogs func()
	if show {
		_, waitLogs = liveLogs(c.Context, cl, res.ID)
	}
	final, err := cl.Events(c.Context, res.ID, func(e api.Event) {
		if show && e.Time.After(start.Add(-time.Second)) {
			fmt.Fprintf(os.Stderr, "  %6.3fs  %s\n", time.Since(start).Seconds(), e.Message)
		}
	})
	if waitLogs != nil {
		waitLogs() // the log stream ends with the job
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(final); err != nil {
			return err
		}
	} else if final.Partition != nil {
		partitionOutcome(c, final)
	} else {
		for _, r := range final.Receipts {
			if show {
				break // printed live
			}
			if len(final.Receipts) > 1 {
				fmt.Fprintf(os.Stderr, "== %s (exit code %d)\n", r.Executor, r.ExitCode)
			}
			if r.Stdout != "" {
				if err := catTo(c.Context, cl, r.Stdout, os.Stdout); err != nil {
					return err
				}
			}
		}
		for _, r := range final.Receipts {
			if !c.Bool("quiet") {
				where := "on " + r.Executor
				if r.Reused {
					where = reusedText(r)
				}
				fmt.Fprintf(os.Stderr, "job %s %s %s (exit code %d); outputs: %s\n", final.ID, final.State, where, r.ExitCode, r.Outputs)
			}
			if show {
				for _, a := range final.Awards {
					if a.ID == r.AwardID {
						fmt.Fprintf(os.Stderr, "  phases: %s\n", phaseLine(a.Phases, time.Now()))
					}
				}
			}
		}
	}
	if final.State != api.JobCompleted {
		// A failed job shows why: the end of its stderr (live on a
		// terminal, from the receipt otherwise) and the reason.
		if !show && !c.Bool("json") {
			showStderrTail(c.Context, cl, final)
		}
		return cli.Exit(fmt.Sprintf("job %s %s: %s", final.ID, final.State, final.Error), 2)
	}
	return nil
}

func describeJob(c *cli.Context) error {
	_, j, err := jobArg(c)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(j)
	}
	fmt.Printf("Job:      %s\nName:     %s\nState:    %s\nEngine:   %s\nCreated:  %s\nAttempts: %d\n", j.ID, j.Name, j.State, j.Engine, j.Created.Local().Format(time.RFC3339), j.Attempts)
	if j.Error != "" {
		fmt.Printf("Error:    %s\n", j.Error)
	}
	if j.Parent != "" {
		fmt.Printf("Task of:  %s\n", j.Parent)
	}
	fmt.Printf("\nSpec:\n%s", indent(j.Spec))
	if j.Partition != nil {
		printPartition(j.Partition)
	}
	if len(j.Bids) > 0 {
		fmt.Println("\nBids:")
		w := table()
		fmt.Fprintln(w, "  PEER\tLOCAL\tFREE SLOTS\tQUEUE\tEST START")
		for _, b := range j.Bids {
			loc := "-"
			if b.TotalBytes > 0 {
				loc = fmt.Sprintf("%.0f%% of %s", 100*float64(b.LocalBytes)/float64(b.TotalBytes), humanBytes(b.TotalBytes))
			}
			fmt.Fprintf(w, "  %s\t%s\t%d\t%d\t%s\n", b.Peer, loc, b.FreeSlots, b.QueueDepth, b.EstStart)
		}
		w.Flush()
	}
	if len(j.Declines) > 0 {
		fmt.Println("\nDeclines:")
		for _, d := range j.Declines {
			fmt.Printf("  declined by %s: %s (%s)\n", d.Peer, d.Reason, d.Code)
		}
	}
	if len(j.Awards) > 0 {
		fmt.Println("\nPlacement:")
		for _, a := range j.Awards {
			line := fmt.Sprintf("  award %s to %s: %s", a.ID[:8], a.Executor, a.State)
			if a.Error != "" {
				line += " (" + a.Error + ")"
			}
			fmt.Println(line)
			if ph := phaseLine(a.Phases, time.Now()); ph != "" {
				fmt.Println("    " + ph)
			}
		}
	}
	if len(j.Receipts) > 0 {
		fmt.Println("\nReceipts:")
		for _, r := range j.Receipts {
			fmt.Printf("  %s\n    executor %s, exit code %d, %s\n    outputs %s\n    stdout %s\n    stderr %s\n", r.CID, r.Executor, r.ExitCode, r.Finished.Sub(r.Started).Round(time.Millisecond), r.Outputs, r.Stdout, r.Stderr)
			if r.Reused {
				fmt.Printf("    %s: no execution for this job\n", reusedText(r))
			}
			if r.Error != "" {
				fmt.Printf("    error: %s\n", r.Error)
			}
		}
	}
	if v := j.Verification; v != nil {
		printVerification(&j.Job)
	}
	if len(j.Late) > 0 {
		fmt.Println("\nLate receipts (of superseded awards; they did not settle the job):")
		for _, r := range j.Late {
			fmt.Printf("  %s\n    late receipt of award %s, executor %s, exit code %d\n", r.CID, r.AwardID, r.Executor, r.ExitCode)
			if r.Error != "" {
				fmt.Printf("    error: %s\n", r.Error)
			}
		}
	}
	fmt.Println("\nEvents:")
	for _, e := range j.Events {
		fmt.Printf("  %s  %s\n", e.Time.Local().Format("15:04:05.000"), e.Message)
	}
	return nil
}

// printVerification shows a verified job's verdict, and its results side
// by side: one column per result, the agreeing one first.
func printVerification(j *api.Job) {
	v := j.Verification
	fmt.Printf("\nVerification: %s (quorum %d of %d replicas)\n", v.Summary, v.Quorum, v.Replicas)
	if v.Verified {
		fmt.Printf("  agreeing executors: %s\n", strings.Join(v.Agreeing, ", "))
	}
	byAward := map[string]api.Receipt{}
	for _, r := range j.Receipts {
		byAward[r.AwardID] = r
	}
	w := table()
	head := "  "
	rows := [6]string{"  executors", "  outputs", "  stdout", "  stderr", "  exit code", "  error"}
	for i, g := range v.Groups {
		label := fmt.Sprintf("result %c (%d)", 'A'+i, len(g))
		if v.Verified && i == 0 {
			label += " agreed"
		} else if v.Verified {
			label += " outvoted"
		}
		head += "\t" + label
		first := byAward[g[0]]
		var execs []string
		for _, id := range g {
			execs = append(execs, bidding.ShortText(byAward[id].Executor))
		}
		errText := first.ErrorCode
		if errText == "" {
			errText = "-"
		}
		for k, cell := range []string{strings.Join(execs, ","), first.Outputs, first.Stdout, first.Stderr, fmt.Sprint(first.ExitCode), errText} {
			rows[k] += "\t" + cell
		}
	}
	fmt.Fprintln(w, head)
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	w.Flush()
}

// reusedText says where a reused receipt came from, as the job's log does
// (bidding.ReusedText).
func reusedText(r api.Receipt) string {
	return fmt.Sprintf("reused receipt of %s from %s", r.Executor, r.Finished.UTC().Format(time.RFC3339))
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// cidOrAdd returns src as a CID, or adds the local path src (recursively)
// and returns its CID.
func cidOrAdd(c *cli.Context, cl *api.Client, src string) (string, error) {
	if st, err := os.Lstat(src); err == nil {
		nd, err := content.OpenPath(src, false)
		if err != nil {
			return "", err
		}
		_ = st
		added, err := cl.Add(c.Context, files.NewSliceDirectory([]files.DirEntry{files.FileEntry(filepath.Base(src), nd)}), api.AddParams{Pin: true}, nil)
		if err != nil {
			return "", fmt.Errorf("add %s: %w", src, err)
		}
		if len(added) != 1 {
			return "", fmt.Errorf("add %s: daemon returned %d entries", src, len(added))
		}
		return added[0].CID, nil
	}
	if _, err := content.ParseCID(src); err != nil {
		return "", fmt.Errorf("%q is neither a local path nor a CID", src)
	}
	return src, nil
}
