package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/workflow"
	"github.com/shoalnet/shoal/node/api"
)

func workflowCmd() *cli.Command {
	return &cli.Command{
		Name:  "workflow",
		Usage: "run DAGs of jobs whose inputs are other jobs' outputs",
		Description: `A workflow file (YAML or JSON) has a name and steps; each step is a job spec
with a name, and an input may be another step's outputs instead of a CID:

   name: wordcount
   steps:
     - name: map-a
       engine: {wasm: {module: ./wcmap.wasm}}
       inputs: [{cid: bafy..., path: /inputs}]
     - name: reduce
       engine: {wasm: {module: ./wcreduce.wasm}}
       inputs:
         - {from: map-a, path: /inputs/a}              # all of map-a's outputs
         - {from: map-b/counts.tsv, path: /inputs/b}   # one file of them

A step may be a partitioned job (partition: {by: entry}, over a dataset CID
made with shoal dir make): one task per entry, each on its holder; its outputs
are the result directory (task i's outputs under /i/), and describe lists
the tasks.

A step runs as soon as the steps it takes inputs from completed, and prefers
the executor that produced them (it holds the data). A failed step fails the
steps after it; independent branches go on. The workflow's record lives in
this node's repo: a restarted daemon resumes it, and no step runs twice. See
docs/jobspec.md ("Workflows").`,
		Subcommands: []*cli.Command{
			{
				Name: "run", Usage: "run a workflow file or a workflow by CID, and follow its steps", ArgsUsage: "FILE | --cid CID",
				Description: `The file is checked (unknown fields, a cycle, a from naming no step, duplicate
step names are errors naming the steps), local files it names are added to this
node, and it is encoded canonically: its CID is the workflow ID. Attached (the
default), prints each step's progress and, at the end, each step's outputs
CID; --detach prints the workflow ID and returns.

Example:
   shoal workflow run examples/workflows/wordcount.yaml
   shoal workflow run --cid bafyrei... --detach`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "cid", Usage: "run the workflow block with this CID (fetched from the network)"},
					&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "print the workflow ID and return instead of waiting"},
					quietFlag, jsonFlag,
				},
				Action: runWorkflow,
			},
			{
				Name: "list", Usage: "list the workflows this node ran", Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					runs, err := cl.Workflows(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(runs)
					}
					tw := table()
					fmt.Fprintln(tw, "ID\tNAME\tSTATE\tSTEPS\tCREATED")
					for _, r := range runs {
						done := 0
						for _, s := range r.Steps {
							if s.State == string(workflow.StepCompleted) {
								done++
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\n", r.ID, r.Name, r.State, done, len(r.Steps), r.Created.Local().Format(time.DateTime))
					}
					return tw.Flush()
				},
			},
			{
				Name: "describe", Usage: "show a workflow's DAG: each step's state, inputs, job, executor and timings", ArgsUsage: "WF",
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					cl, run, err := workflowArg(c)
					if err != nil {
						return err
					}
					_ = cl
					if c.Bool("json") {
						return printJSON(run)
					}
					printWorkflow(run)
					return nil
				},
			},
			{
				Name: "get", Usage: "write a step's outputs to a directory", ArgsUsage: "WF STEP",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "directory to write (default: the step's name)"},
					&cli.BoolFlag{Name: "force", Usage: "replace the directory if it exists"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return errors.New("workflow get needs WF and STEP; see `shoal workflow get --help`")
					}
					cl, run, err := workflowArg(c)
					if err != nil {
						return err
					}
					name := c.Args().Get(1)
					for _, s := range run.Steps {
						if s.Name != name {
							continue
						}
						if s.Outputs == "" {
							return fmt.Errorf("step %s is %s and has no outputs yet%s", name, s.State, errSuffix(s.Error))
						}
						dest := c.String("output")
						if dest == "" {
							dest = name
						}
						if err := getTo(c.Context, cl, s.Outputs, dest, c.Bool("force")); err != nil {
							return err
						}
						fmt.Fprintf(os.Stderr, "wrote %s (outputs %s of step %s)\n", dest, s.Outputs, name)
						return nil
					}
					return fmt.Errorf("workflow %s has no step %q (steps: %s)", run.ID, name, strings.Join(stepNames(run), ", "))
				},
			},
			{
				Name: "cancel", Usage: "cancel a workflow: its running steps' jobs are cancelled, the others will not run", ArgsUsage: "WF",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("workflow cancel needs one workflow ID")
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					run, err := cl.CancelWorkflow(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					fmt.Printf("%s %s\n", run.ID, run.State)
					return nil
				},
			},
		},
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func stepNames(r *api.WorkflowRun) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name)
	}
	return out
}

func workflowArg(c *cli.Context) (*api.Client, *api.WorkflowRun, error) {
	if c.NArg() < 1 {
		return nil, nil, errors.New("give a workflow ID (shoal workflow list shows them)")
	}
	cl, err := client(c)
	if err != nil {
		return nil, nil, err
	}
	run, err := cl.Workflow(c.Context, c.Args().First(), -1)
	return cl, run, err
}

func runWorkflow(c *cli.Context) error {
	cl, err := client(c)
	if err != nil {
		return err
	}
	var res *api.WorkflowSubmitResponse
	switch {
	case c.String("cid") != "":
		if c.NArg() > 0 {
			return errors.New("give either FILE or --cid, not both")
		}
		res, err = cl.SubmitWorkflowCID(c.Context, c.String("cid"))
	case c.NArg() == 1:
		file := c.Args().First()
		doc, rerr := os.ReadFile(file)
		if rerr != nil {
			return fmt.Errorf("read workflow: %w", rerr)
		}
		added := map[string]cid.Cid{}
		w, perr := workflow.Parse(doc, file, jobspec.ParseOptions{Local: func(r jobspec.LocalRef) (cid.Cid, error) {
			f, err := checkLocal(file, r)
			if err != nil {
				return cid.Undef, err
			}
			if k, ok := added[f.Abs]; ok {
				return k, nil
			}
			s, err := cidOrAdd(c, cl, f.Abs)
			if err != nil {
				return cid.Undef, err
			}
			k, err := cid.Decode(s)
			added[f.Abs] = k
			return k, err
		}})
		if perr != nil {
			return perr
		}
		block, _, eerr := workflow.Encode(w)
		if eerr != nil {
			return eerr
		}
		res, err = cl.SubmitWorkflow(c.Context, block)
	default:
		return errors.New("workflow run needs one FILE or --cid CID; see `shoal workflow run --help`")
	}
	if err != nil {
		return err
	}
	if c.Bool("detach") {
		fmt.Println(res.ID)
		return nil
	}
	quiet := c.Bool("quiet")
	if !quiet {
		verb := "started"
		if res.Existing {
			verb = "attached to"
		}
		fmt.Fprintf(os.Stderr, "workflow %s %s\n", res.ID, verb)
	}
	seen := map[string]string{}
	var version int64
	for {
		run, err := cl.Workflow(c.Context, res.ID, version)
		if err != nil {
			return err
		}
		version = run.Version
		for _, s := range run.Steps {
			key := s.State + s.Executor
			if seen[s.Name] == key {
				continue
			}
			seen[s.Name] = key
			if !quiet {
				fmt.Fprintf(os.Stderr, "  %-16s %-10s%s\n", s.Name, s.State, stepDetail(s))
			}
		}
		if workflow.State(run.State).Terminal() {
			if c.Bool("json") {
				return printJSON(run)
			}
			for _, s := range run.Steps {
				if s.Outputs != "" {
					fmt.Printf("%s\t%s\n", s.Name, s.Outputs)
				}
			}
			if run.State != string(workflow.Completed) {
				return fmt.Errorf("workflow %s %s: %s", run.ID, run.State, run.Error)
			}
			return nil
		}
	}
}

func stepDetail(s api.WorkflowStep) string {
	var b strings.Builder
	if s.Executor != "" {
		fmt.Fprintf(&b, " on %s", s.Executor)
	}
	if !s.Started.IsZero() && !s.Finished.IsZero() {
		fmt.Fprintf(&b, " in %s", s.Finished.Sub(s.Started).Round(time.Millisecond))
	}
	if s.Error != "" {
		fmt.Fprintf(&b, ": %s", s.Error)
	}
	return b.String()
}

func printWorkflow(r *api.WorkflowRun) {
	fmt.Printf("Workflow: %s\nName:     %s\nState:    %s\nCreated:  %s\n", r.ID, r.Name, r.State, r.Created.Local().Format(time.DateTime))
	if r.Error != "" {
		fmt.Printf("Error:    %s\n", r.Error)
	}
	fmt.Println()
	tw := table()
	fmt.Fprintln(tw, "STEP\tNEEDS\tSTATE\tEXECUTOR\tTOOK\tINPUT\tFETCHED\tJOB")
	for _, s := range r.Steps {
		took := "-"
		if !s.Started.IsZero() && !s.Finished.IsZero() {
			took = s.Finished.Sub(s.Started).Round(time.Millisecond).String()
		}
		needs := strings.Join(s.Needs, ",")
		if needs == "" {
			needs = "-"
		}
		exec, input, fetched := s.Executor, humanBytes(s.InputBytes), humanBytes(s.FetchedBytes)
		if p := s.Partition; p != nil && exec == "" {
			// The step is its tasks: their table follows; here their sum.
			var sum int64
			for _, t := range p.Tasks {
				sum += t.BytesFetched
			}
			exec, input, fetched = fmt.Sprintf("(%d tasks)", len(p.Tasks)), "-", humanBytes(sum)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, needs, s.State, dash(exec), took, input, fetched, dash(s.Job))
	}
	_ = tw.Flush()
	// A partitioned step's tasks: the table job describe prints.
	for _, s := range r.Steps {
		if s.Partition != nil {
			fmt.Printf("\nStep %s:", s.Name)
			printPartition(s.Partition)
		}
	}
	for _, s := range r.Steps {
		if s.Error != "" {
			fmt.Printf("\n%s: %s", s.Name, s.Error)
		}
	}
	fmt.Println()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
