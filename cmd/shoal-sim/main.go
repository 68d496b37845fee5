// Command shoal-sim runs Shoal's simulation plans (testground/plans) with
// the sim, local:exec or local:docker runner and reports their figures.
//
//	shoal-sim run --plan placement --instances 50 --runner sim --param jobs=200
//	shoal-sim run --composition testground/compositions/placement-sim.toml
//	shoal-sim report <run-id>
//	shoal-sim plans
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalnet/shoal/testground/manifest"
	"github.com/shoalnet/shoal/testground/plans"
	"github.com/shoalnet/shoal/testground/report"
	"github.com/shoalnet/shoal/testground/runner"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "shoal-sim:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "shoal-sim",
		Usage: "run Shoal simulation plans (Testground-shaped) and report their figures",
		Commands: []*cli.Command{
			runCommand(),
			{
				Name:      "report",
				Usage:     "print the summary table of a run",
				ArgsUsage: "RUN (a run ID under --outputs, or a run directory)",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "outputs", Value: runner.DefaultOutputs, Usage: "directory holding the runs"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return cli.Exit("report needs one RUN argument", 2)
					}
					r, dir, err := report.Read(c.Args().First(), c.String("outputs"))
					if err != nil {
						return cli.Exit(err, 1)
					}
					if err := report.Table(os.Stdout, r); err != nil {
						return err
					}
					fmt.Printf("results: %s\nplot:    %s\n", filepath.Join(dir, report.ResultsFile), filepath.Join(dir, report.PlotFile))
					return nil
				},
			},
			{
				Name:  "plans",
				Usage: "list the plans, their cases and parameters",
				Action: func(c *cli.Context) error {
					for _, name := range plans.Names() {
						p, err := plans.Get(name)
						if err != nil {
							return err
						}
						var runners []string
						for r, e := range p.Manifest.Runners {
							if e.Enabled {
								runners = append(runners, r)
							}
						}
						sort.Strings(runners)
						fmt.Printf("%s (runners: %s)\n", name, strings.Join(runners, ", "))
						for _, tc := range p.Manifest.TestCases {
							fmt.Printf("  case %s: %d-%d instances (default %d)\n", tc.Name, tc.Instances.Min, tc.Instances.Max, tc.Instances.Default)
							for _, pn := range tc.ParamNames() {
								pr := tc.Params[pn]
								fmt.Printf("    %s (%s, default %v): %s\n", pn, pr.Type, pr.Default, pr.Desc)
							}
						}
					}
					return nil
				},
			},
			{
				Name:  "build",
				Usage: "build a plan's standalone static binary (for local:exec and local:docker)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "plan", Required: true},
					&cli.StringFlag{Name: "out", Value: filepath.Join(runner.DefaultOutputs, ".bin")},
				},
				Action: func(c *cli.Context) error {
					p, err := plans.Get(c.String("plan"))
					if err != nil {
						return cli.Exit(err, 2)
					}
					bin, err := runner.BuildPlan(c.Context, p, ".", c.String("out"))
					if err != nil {
						return cli.Exit(err, 1)
					}
					fmt.Println(bin)
					return nil
				},
			},
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a plan (or a composition) and write results.json and plot.svg",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan name (see `shoal-sim plans`)"},
			&cli.StringFlag{Name: "case", Usage: "test case (default: the manifest's first)"},
			&cli.IntFlag{Name: "instances", Usage: "instances (default: the case's default)"},
			&cli.StringFlag{Name: "runner", Usage: "sim, local:exec or local:docker (default: the composition's, else sim)"},
			&cli.StringFlag{Name: "composition", Usage: "a composition .toml (plan, case, runner, groups, params)"},
			&cli.StringFlag{Name: "outputs", Value: runner.DefaultOutputs, Usage: "parent directory of run directories"},
			&cli.StringSliceFlag{Name: "param", Usage: "k=v test parameter (repeatable); overrides the composition"},
			&cli.DurationFlag{Name: "timeout", Usage: "stop the run after this long (default 10m, or the composition's)"},
			&cli.DurationFlag{Name: "latency", Usage: "sim: link latency"},
			&cli.StringFlag{Name: "bandwidth", Usage: "sim: link bandwidth per direction, e.g. 100MiB (per second)"},
			&cli.StringFlag{Name: "binary", Usage: "prebuilt static plan binary (local:exec, local:docker); default: go build"},
			&cli.IntFlag{Name: "gogc", Value: 200, Usage: "sim: GOGC of this process, unless GOGC is set (fewer collections of a heap of hundreds of nodes)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress lines"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "sim: write a CPU profile of the whole run to this file"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := config(c)
			if err != nil {
				return cli.Exit(err, 2)
			}
			if cfg.Runner == runner.Sim {
				if os.Getenv("GOGC") == "" {
					debug.SetGCPercent(c.Int("gogc"))
				}
				closeLog, err := simLog(cfg)
				if err != nil {
					return cli.Exit(err, 1)
				}
				defer closeLog()
				if p := c.String("cpuprofile"); p != "" {
					f, err := os.Create(p)
					if err != nil {
						return cli.Exit(err, 1)
					}
					defer f.Close()
					if err := pprof.StartCPUProfile(f); err != nil {
						return cli.Exit(err, 1)
					}
					defer pprof.StopCPUProfile()
				}
			}
			res, err := runner.Run(c.Context, *cfg)
			if res == nil {
				return cli.Exit(err, 1)
			}
			r, dir, rerr := report.Read(res.Dir, "")
			if rerr == nil {
				_ = report.Table(os.Stdout, r)
				fmt.Printf("results: %s\nplot:    %s\n", filepath.Join(dir, report.ResultsFile), filepath.Join(dir, report.PlotFile))
			}
			if err != nil {
				return cli.Exit(err, 1)
			}
			return nil
		},
	}
}

// simLog sends the nodes' logs (warnings and errors) to sim.log in the run
// directory instead of the terminal.
func simLog(cfg *runner.Config) (func(), error) {
	dir := filepath.Join(cfg.Outputs, cfg.RunID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		return nil, err
	}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return func() {
		slog.SetDefault(prev)
		f.Close()
	}, nil
}

// config merges the composition (if any) and the flags.
func config(c *cli.Context) (*runner.Config, error) {
	cfg := &runner.Config{Outputs: c.String("outputs"), RunID: runner.NewRunID(), Binary: c.String("binary")}
	if !c.Bool("quiet") {
		cfg.Log = os.Stderr
	}
	planName, caseName, runnerName := c.String("plan"), c.String("case"), ""
	if f := c.String("composition"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		comp, err := manifest.ParseComposition(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if planName == "" {
			planName = comp.Global.Plan
		}
		if caseName == "" {
			caseName = comp.Global.Case
		}
		runnerName = comp.Global.Runner
		cfg.GlobalParams = comp.Global.Run.TestParams
		for _, g := range comp.Groups {
			cfg.Groups = append(cfg.Groups, runner.GroupSpec{ID: g.ID, Instances: g.Instances.Count, Params: g.Run.TestParams})
		}
		if err := applyRunConfig(cfg, comp.Global.RunConfig); err != nil {
			return nil, fmt.Errorf("%s: run_config: %w", f, err)
		}
		if c.IsSet("instances") {
			return nil, errors.New("--instances and --composition do not mix: set the counts in the composition's groups")
		}
	}
	if planName == "" {
		return nil, fmt.Errorf("say which plan: --plan (one of %v) or --composition", plans.Names())
	}
	p, err := plans.Get(planName)
	if err != nil {
		return nil, err
	}
	cfg.Plan, cfg.Case = p, caseName
	cfg.Instances = c.Int("instances")
	if r := c.String("runner"); r != "" {
		runnerName = r
	}
	if runnerName == "" {
		runnerName = runner.Sim
	}
	cfg.Runner = runnerName
	if len(c.StringSlice("param")) > 0 {
		cfg.Params = map[string]string{}
		for _, kv := range c.StringSlice("param") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--param %q is not k=v", kv)
			}
			if err := runtime.CheckParam(k, v); err != nil {
				return nil, err
			}
			cfg.Params[k] = v
		}
	}
	if c.IsSet("timeout") {
		cfg.Timeout = c.Duration("timeout")
	}
	if c.IsSet("latency") {
		cfg.Latency = c.Duration("latency")
	}
	if c.IsSet("bandwidth") {
		if cfg.Bandwidth, err = parseBandwidth(c.String("bandwidth")); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// applyRunConfig reads [global.run_config]: latency, bandwidth, timeout,
// and the table nat (group ID = "public" | "endpoint-independent" |
// "symmetric").
func applyRunConfig(cfg *runner.Config, rc map[string]any) error {
	for k, v := range rc {
		s := fmt.Sprint(v)
		var err error
		switch k {
		case "nat":
			t, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("nat = %q: want a table of group = NAT, like [global.run_config.nat] site-a = %q", s, runner.NATEndpointIndependent)
			}
			cfg.NAT = map[string]string{}
			for g, kind := range t {
				ks, ok := kind.(string)
				if !ok {
					return fmt.Errorf("nat.%s = %v: want a string (%q, %q or %q)", g, kind, runner.NATPublic, runner.NATEndpointIndependent, runner.NATSymmetric)
				}
				cfg.NAT[g] = ks
			}
		case "latency":
			cfg.Latency, err = time.ParseDuration(s)
		case "timeout":
			cfg.Timeout, err = time.ParseDuration(s)
		case "bandwidth":
			cfg.Bandwidth, err = parseBandwidth(s)
		default:
			return fmt.Errorf("unknown key %q (latency, bandwidth, timeout, nat)", k)
		}
		if err != nil {
			return fmt.Errorf("%s = %q: %w", k, s, err)
		}
	}
	return nil
}

// parseBandwidth reads bytes per second: "1048576", "100MiB", "10MB".
func parseBandwidth(s string) (float64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bandwidth %q: want bytes per second like 100MiB", s)
	}
	return v * mult, nil
}
