package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/client"
	"github.com/berthproject/berth/pkg/types/container"
)

// resourceFlags: --memory, --cpus, --pids-limit, --cap-add, --privileged,
// --security-opt... (cmd/berth/opts/resources.go).
func resourceFlags() configFlags {
	return configFlags{flags: opts.ResourceFlags(), apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
		return opts.ApplyResources(c, cfg)
	}}
}

// Update is `berth update`.
func Update(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "update",
		BashComplete: completeContainers(env, true),
		Usage:        "Update the resource limits of one or more containers",
		UsageText:    "berth update [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `Changes cgroup limits at once on a running container, and for its next
starts. Options left out keep their value.

Examples:
   berth update --memory 256m --memory-swap 512m web
   berth update --cpus 0.5 --pids-limit 100 web worker`,
		Flags: append(opts.UpdateFlags(),
			&cli.StringFlag{Name: "restart", Usage: "restart policy: no, on-failure[:max-retries], always, unless-stopped"}),
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			r, err := opts.UpdateResources(c)
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			var policy *container.RestartPolicy
			if c.IsSet("restart") {
				p, err := opts.RestartPolicy(c.String("restart"))
				if err != nil {
					return &ExitError{Code: ExitBerthFailed, Err: err}
				}
				policy = &p
			}
			limits := !reflect.ValueOf(r).IsZero()
			if !limits && policy == nil {
				return usagef(c, "needs at least one option to update")
			}
			rc := cl
			var errs []error
			for _, id := range c.Args().Slice() {
				if policy != nil {
					if err := rc.UpdateRestartPolicy(ctx, id, *policy); err != nil {
						errs = append(errs, err)
						continue
					}
				}
				var warnings []string
				if limits {
					if warnings, err = rc.Update(ctx, id, r); err != nil {
						errs = append(errs, err)
						continue
					}
				}
				printWarnings(env, warnings)
				fmt.Fprintln(env.Stdout, id)
			}
			return errors.Join(errs...)
		}),
	}
}

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
	"BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsRow is one line of `berth stats`: the latest sample and the one
// before it (CPU % is their difference).
type statsRow struct {
	ref       string
	cur, prev *container.Stats
	err       error
	noTrunc   bool
}

func (r statsRow) Container() string { return r.ref }

func (r statsRow) ID() string {
	if r.noTrunc {
		return r.cur.ID
	}
	return formatter.TruncateID(r.cur.ID)
}

func (r statsRow) Name() string { return strings.TrimPrefix(r.cur.Name, "/") }

// CPUPerc is Docker's: the container's share of the host's CPU time since
// the previous sample, times the number of CPUs.
func (r statsRow) CPUPerc() string {
	if r.prev == nil || !r.cur.Running || !r.prev.Running {
		return "0.00%"
	}
	cpu := float64(r.cur.CPUUsage) - float64(r.prev.CPUUsage)
	sys := float64(r.cur.SystemCPUUsage) - float64(r.prev.SystemCPUUsage)
	if cpu <= 0 || sys <= 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", cpu/sys*float64(r.cur.OnlineCPUs)*100)
}

func (r statsRow) MemUsage() string {
	return units.BytesSize(float64(r.cur.MemoryUsage)) + " / " + units.BytesSize(float64(r.cur.MemoryLimit))
}

func (r statsRow) MemPerc() string {
	if r.cur.MemoryLimit == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", float64(r.cur.MemoryUsage)/float64(r.cur.MemoryLimit)*100)
}

func (r statsRow) NetIO() string {
	return units.HumanSizeWithPrecision(float64(r.cur.NetRx), 3) + " / " + units.HumanSizeWithPrecision(float64(r.cur.NetTx), 3)
}

func (r statsRow) BlockIO() string {
	return units.HumanSizeWithPrecision(float64(r.cur.BlockRead), 3) + " / " + units.HumanSizeWithPrecision(float64(r.cur.BlockWrite), 3)
}

func (r statsRow) PIDs() string { return fmt.Sprint(r.cur.Pids) }

// MarshalJSON gives {{json .}} Docker's keys.
func (r statsRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"Container": r.Container(), "ID": r.ID(), "Name": r.Name(), "CPUPerc": r.CPUPerc(),
		"MemUsage": r.MemUsage(), "MemPerc": r.MemPerc(), "NetIO": r.NetIO(),
		"BlockIO": r.BlockIO(), "PIDs": r.PIDs(),
	})
}

// Stats is `berth stats`.
func Stats(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "stats",
		BashComplete: completeContainers(env, false),
		Usage:        "Display a live stream of containers' resource usage",
		UsageText:    "berth stats [OPTIONS] [CONTAINER...]",
		Description: `Shows CPU %, memory usage / limit and %, network and block I/O and the
number of processes, refreshed every second (in place on a terminal). Without
CONTAINER: every running container (-a: every container).

Format fields: .Container .ID .Name .CPUPerc .MemUsage .MemPerc .NetIO
.BlockIO .PIDs

Examples:
   berth stats
   berth stats --no-stream web
   berth stats --format 'table {{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default: running ones)"},
			&cli.BoolFlag{Name: "no-stream", Usage: "print one table and exit"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
		},
		Action: withArgs(env, 0, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			f, err := formatter.Parse(c.String("format"), defaultStatsFormat)
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			rc := cl
			refs := c.Args().Slice()
			if len(refs) == 0 {
				list, err := cl.List(ctx, container.ListOptions{All: c.Bool("all")})
				if err != nil {
					return err
				}
				for _, s := range list {
					refs = append(refs, s.ID)
				}
			}
			return runStats(ctx, env, rc, refs, f, c.Bool("no-stream"), c.Bool("no-trunc"))
		}),
	}
}

// runStats follows one stats stream per container and renders the table
// once a second (or once, with noStream, when every container has two
// samples or has stopped).
func runStats(ctx context.Context, env *Env, rc Client, refs []string, f *formatter.Format, noStream, noTrunc bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	rows := make(map[string]*statsRow, len(refs))
	changed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, ref := range refs {
		row := &statsRow{ref: ref, noTrunc: noTrunc}
		rows[ref] = row
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			err := rc.Stats(ctx, ref, client.StatsOptions{}, func(s *container.Stats) error {
				mu.Lock()
				row.prev, row.cur = row.cur, s
				n++
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
				if noStream && (n >= 2 || !s.Running) {
					return errStatsDone
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStatsDone) && ctx.Err() == nil {
				mu.Lock()
				row.err = err
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	tty := term.IsTerminal(env.Stdout)
	lines := 0
	render := func() error {
		mu.Lock()
		var list []any
		var errs []error
		for _, ref := range refs {
			r := rows[ref]
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			if r.cur == nil {
				continue
			}
			list = append(list, *r)
		}
		mu.Unlock()
		var buf bytes.Buffer
		if err := f.Write(&buf, statsHeaders, list); err != nil {
			return err
		}
		if tty && !noStream && lines > 0 {
			fmt.Fprintf(env.Stdout, "\033[%dA\033[J", lines) // back over the last table
		}
		lines = bytes.Count(buf.Bytes(), []byte("\n"))
		if _, err := io.Copy(env.Stdout, &buf); err != nil {
			return err
		}
		if len(errs) == len(refs) && len(refs) > 0 {
			return errors.Join(errs...)
		}
		return nil
	}
	if noStream {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return render()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return render()
		case <-changed:
			if !first {
				continue
			}
			first = false
		case <-tick.C:
		}
		if err := render(); err != nil {
			return err
		}
	}
}

var errStatsDone = errors.New("enough samples")
