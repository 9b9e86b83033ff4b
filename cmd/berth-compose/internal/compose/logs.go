package compose

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// logPrinter prints container output prefixed with the container's name
// ("web-1  | line"), coloured per container on a terminal, as docker
// compose does. Lines of several containers never interleave mid-line.
type logPrinter struct {
	mu         sync.Mutex
	a          *app
	colour     bool
	noPrefix   bool
	timestamps bool
	width      int
}

func (a *app) newLogPrinter() *logPrinter {
	return &logPrinter{a: a, colour: a.ttyOut(), width: 0}
}

var colours = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func (l *logPrinter) prefixOnly(cname string) string {
	if l.colour {
		h := fnv.New32a()
		_, _ = h.Write([]byte(cname))
		return "\x1b[" + colours[h.Sum32()%uint32(len(colours))] + "m" + cname + "\x1b[0m"
	}
	return cname
}

func (l *logPrinter) line(cname string, e container.LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(cname) > l.width {
		l.width = len(cname)
	}
	text := strings.TrimSuffix(string(e.Line), "\n")
	var b strings.Builder
	if !l.noPrefix {
		p := cname + strings.Repeat(" ", l.width-len(cname)) + "  | "
		if l.colour {
			p = l.prefixOnly(cname+strings.Repeat(" ", l.width-len(cname))) + "  \x1b[2m|\x1b[0m "
		}
		b.WriteString(p)
	}
	if l.timestamps {
		b.WriteString(e.Time.Format(time.RFC3339Nano) + " ")
	}
	b.WriteString(text)
	b.WriteByte('\n')
	fmt.Fprint(l.a.env.Stdout, b.String())
}

func (a *app) cmdLogs() *cli.Command {
	return &cli.Command{
		Name: "logs", Usage: "view output from containers", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines to show from the end of the logs for each container"},
			&cli.BoolFlag{Name: "no-color", Usage: "produce monochrome output"},
			&cli.BoolFlag{Name: "no-log-prefix", Usage: "don't print prefix in logs"},
			&cli.StringFlag{Name: "since", Usage: "show logs since timestamp (2013-01-02T13:23:37Z) or relative (42m)"},
			&cli.StringFlag{Name: "until", Usage: "show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m)"},
			&cli.IntFlag{Name: "index", Usage: "index of the container if the service has multiple replicas"},
		},
		Action: func(c *cli.Context) error {
			ctx := c.Context
			p, err := a.loadOrName(ctx)
			if err != nil {
				return err
			}
			if _, err := serviceNames(p, c.Args().Slice()); err != nil {
				return err
			}
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			list, err := a.containers(ctx, p.Name, true, c.Args().Slice()...)
			if err != nil {
				return err
			}
			opts := container.LogOptions{Follow: c.Bool("follow"), Tail: -1}
			if t := c.String("tail"); t != "all" && t != "" {
				if _, err := fmt.Sscan(t, &opts.Tail); err != nil {
					return usage("invalid --tail %q: a number or all", t)
				}
			}
			now := time.Now()
			for _, f := range []struct {
				flag string
				dst  *time.Time
			}{{"since", &opts.Since}, {"until", &opts.Until}} {
				if v := c.String(f.flag); v != "" {
					t, err := parseTime(v, now)
					if err != nil {
						return usage("invalid --%s %q: %v", f.flag, v, err)
					}
					*f.dst = t
				}
			}
			lp := a.newLogPrinter()
			lp.colour = lp.colour && !c.Bool("no-color")
			lp.noPrefix = c.Bool("no-log-prefix")
			lp.timestamps = c.Bool("timestamps")
			var wg sync.WaitGroup
			errs := make([]error, len(list))
			for i, ct := range list {
				if idx := c.Int("index"); idx > 0 && number(ct) != idx {
					continue
				}
				// One-off containers show only when named or running, as
				// docker compose's logs does not list them.
				if ct.Labels[labelOneoff] == "True" {
					continue
				}
				cname := shortName(p.Name, name(ct))
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = cl.Logs(ctx, ct.ID, opts, func(e container.LogEntry) error {
						lp.line(cname, e)
						return nil
					})
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// parseTime reads docker's --since/--until: RFC 3339, a Unix time, or a
// duration before now.
func parseTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	var secs float64
	if _, err := fmt.Sscan(v, &secs); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("want a timestamp or a duration")
}

// shortName is the log prefix docker compose prints: the container's name
// without the project's.
func shortName(project, cname string) string {
	return strings.TrimPrefix(cname, project+"-")
}
