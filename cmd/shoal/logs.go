package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/node/api"
)

// stderrTail is how many lines of a failed job's stderr are shown.
const stderrTail = 20

func jobLogsCommand() *cli.Command {
	return &cli.Command{
		Name: "logs", Usage: "print a job's stdout (or stderr), live while it runs", ArgsUsage: "JOB",
		Description: "Prints the lines a job printed: on a running job those received so far (with --follow, then\n" +
			"the following ones as they come, until the job ends); on a finished job its stored streams.\n" +
			"With --all, stdout lines go to stdout and stderr lines to stderr. Live lines are bounded: bytes\n" +
			"dropped on the way show as a line \"[shoal: N bytes dropped]\"; the stored streams are whole.\n\n" +
			"Example:\n   shoal job logs --follow --all bafyrei...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines until the job ends"},
			&cli.BoolFlag{Name: "stderr", Usage: "print stderr instead of stdout"},
			&cli.BoolFlag{Name: "all", Usage: "print stdout and stderr (stderr lines to stderr)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("stderr") && c.Bool("all") {
				return fmt.Errorf("--stderr and --all exclude each other: --all prints both streams")
			}
			if c.NArg() != 1 {
				return fmt.Errorf("logs takes one JOB ID; see `shoal job logs --help`")
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			stream := "stdout"
			switch {
			case c.Bool("stderr"):
				stream = "stderr"
			case c.Bool("all"):
				stream = "all"
			}
			p := newLinePrinter(os.Stdout, os.Stderr)
			if stream == "stderr" {
				p = newLinePrinter(os.Stdout, os.Stdout) // the one stream asked for, on stdout
			}
			end, err := cl.Logs(c.Context, c.Args().First(), api.LogOptions{Follow: c.Bool("follow"), Stream: stream}, p.print)
			p.flush()
			if err != nil {
				return err
			}
			if end != nil && end.State != api.JobCompleted && c.Bool("follow") {
				fmt.Fprintf(os.Stderr, "job %s %s (exit code %d): %s\n", c.Args().First(), end.State, end.ExitCode, end.Error)
			}
			return nil
		},
	}
}

// linePrinter writes log lines as they come: stdout lines to out, stderr
// lines to errw, each stream buffered and flushed at every line.
type linePrinter struct {
	mu       sync.Mutex
	out, err *bufio.Writer
	// tail keeps the last stderr lines, for a failed job's summary.
	tail []string
}

func newLinePrinter(out, errw io.Writer) *linePrinter {
	return &linePrinter{out: bufio.NewWriter(out), err: bufio.NewWriter(errw)}
}

func (p *linePrinter) print(l api.LogLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.out
	if l.Stream == "stderr" {
		w = p.err
		p.tail = append(p.tail, l.Line)
		if len(p.tail) > stderrTail {
			p.tail = p.tail[1:]
		}
	}
	fmt.Fprintln(w, l.Line)
	_ = w.Flush()
}

func (p *linePrinter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.out.Flush()
	_ = p.err.Flush()
}

// liveLogs follows a job's stdout and stderr while it runs (for `shoal
// run` on a terminal); wait returns once the job's log stream ended.
func liveLogs(ctx context.Context, cl *api.Client, id string) (p *linePrinter, wait func()) {
	p = newLinePrinter(os.Stdout, os.Stderr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = cl.Logs(ctx, id, api.LogOptions{Follow: true, Stream: "all"}, p.print)
		p.flush()
	}()
	return p, func() { <-done }
}

// showStderrTail prints the last lines of a failed job's stored stderr.
func showStderrTail(ctx context.Context, cl *api.Client, final *api.Job) {
	for _, r := range final.Receipts {
		if r.Stderr == "" {
			continue
		}
		var tail []string
		_, err := cl.Logs(ctx, final.ID, api.LogOptions{Stream: "stderr"}, func(l api.LogLine) {
			if l.Executor != "" && l.Executor != r.Executor {
				return
			}
			tail = append(tail, l.Line)
			if len(tail) > stderrTail {
				tail = tail[1:]
			}
		})
		if err != nil || len(tail) == 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "-- last lines of stderr on %s:\n%s\n", r.Executor, strings.Join(tail, "\n"))
		return
	}
}
