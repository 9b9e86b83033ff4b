package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

// rfc3339NanoFixed is Docker's timestamp layout for logs and events: fixed
// width, so columns line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// Logs is `berth logs`.
func Logs(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "logs",
		BashComplete: completeContainers(env, true),
		Usage:        "Fetch the logs of a container",
		UsageText:    "berth logs [OPTIONS] CONTAINER",
		Description: `Prints what the container wrote to stdout (on stdout) and stderr (on stderr).
--since and --until take RFC 3339 times (2026-01-02T15:04:05Z), Unix
timestamps, or durations before now (10m, 1h30m).

Examples:
   berth logs web
   berth logs -f --tail 20 web
   berth logs -t --since 10m --until 2m web`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new output until the container stops"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines from the end, or all"},
			&cli.StringFlag{Name: "since", Usage: "show logs since a time (RFC 3339, Unix time, or e.g. 10m)"},
			&cli.StringFlag{Name: "until", Usage: "show logs before a time (RFC 3339, Unix time, or e.g. 10m)"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
			&cli.BoolFlag{Name: "details", Usage: "show the extra attributes of each line before it (berth records none: as Docker with none, a space)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			lo, err := logOptions(c, env.now())
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			cl, err := env.dial(c)
			if err != nil {
				return err
			}
			defer func() { cl.Close() }()
			lw := newLogWriter(env.Stdout, env.Stderr)
			if !lo.Follow {
				err := cl.Logs(c.Context, c.Args().First(), lo, func(e container.LogEntry) error {
					return writeLogEntry(lw, e, lo.Timestamps, c.Bool("details"))
				})
				return errors.Join(err, lw.flush())
			}
			err = followLogs(c, env, lw, &cl, c.Args().First(), lo)
			return errors.Join(err, lw.flush())
		},
	}
}

// reconnectTimeout bounds how long `logs -f` waits for a restarted berthd.
const reconnectTimeout = time.Minute

// followLogs is `logs -f`. The log lives in the container's data path, not
// in berthd, so when berthd goes away (a restart, live restore) berth waits
// for it to answer again and carries on after the last line it printed.
func followLogs(c *cli.Context, env *Env, lw *logWriter, cl *Client, id string, lo container.LogOptions) error {
	var (
		last   time.Time // time of the last line printed
		atLast int       // lines printed with exactly that time
		skip   int       // lines at `last` to skip after a resume
	)
	print := func(e container.LogEntry) error {
		if !last.IsZero() && !e.Time.After(last) {
			if e.Time.Equal(last) && skip > 0 {
				skip--
				return nil
			}
			if e.Time.Before(last) {
				return nil
			}
		}
		if err := writeLogEntry(lw, e, lo.Timestamps, c.Bool("details")); err != nil {
			return err
		}
		if e.Time.Equal(last) {
			atLast++
		} else {
			last, atLast = e.Time, 1
		}
		return nil
	}
	for {
		err := (*cl).Logs(c.Context, id, lo, print)
		if err == nil || !errdefs.IsUnavailable(err) || c.Context.Err() != nil {
			return err
		}
		if err := lw.flush(); err != nil {
			return err
		}
		fmt.Fprintln(env.Stderr, "berth: berthd went away; waiting for it to come back to keep following the log")
		deadline := time.Now().Add(reconnectTimeout)
		for {
			select {
			case <-c.Context.Done():
				return c.Context.Err()
			case <-time.After(250 * time.Millisecond):
			}
			(*cl).Close()
			next, derr := env.dial(c)
			if derr == nil {
				*cl = next
				if _, ierr := next.Inspect(c.Context, id); ierr == nil {
					break
				} else if !errdefs.IsUnavailable(ierr) {
					return ierr
				}
			}
			if time.Now().After(deadline) {
				return err
			}
		}
		if !last.IsZero() {
			lo.Since, lo.Tail, skip = last, -1, atLast
		}
	}
}

func logOptions(c *cli.Context, now time.Time) (container.LogOptions, error) {
	lo := container.LogOptions{Follow: c.Bool("follow"), Tail: -1, Stdout: true, Stderr: true, Timestamps: c.Bool("timestamps")}
	if t := c.String("tail"); t != "all" && t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return lo, fmt.Errorf("invalid --tail %q: want a number or all", t)
		}
		lo.Tail = n
		if n < 0 {
			lo.Tail = -1
		}
	}
	var err error
	if lo.Since, err = opts.Timestamp(c.String("since"), now); err != nil {
		return lo, fmt.Errorf("--since: %w", err)
	}
	if lo.Until, err = opts.Timestamp(c.String("until"), now); err != nil {
		return lo, fmt.Errorf("--until: %w", err)
	}
	return lo, nil
}

func writeLogEntry(lw *logWriter, e container.LogEntry, timestamps, details bool) error {
	var prefix []byte
	if timestamps {
		prefix = append(e.Time.AppendFormat(prefix, rfc3339NanoFixed), ' ')
	}
	if details {
		// Docker writes the line's attributes ("k=v,k2=v2"), then a
		// space; berth's log lines carry none, so the space alone.
		prefix = append(prefix, ' ')
	}
	return lw.write(e.Stream, prefix, e.Line)
}

// Attach is `berth attach`.
func Attach(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "attach",
		BashComplete: completeContainers(env, false),
		Usage:        "Attach your terminal to a running container's input and output",
		UsageText:    "berth attach [OPTIONS] CONTAINER",
		Description: `Streams the container's output from now on and sends your stdin to it (when
it was created with -i). berth exits with the container's exit code.

Examples:
   berth attach shell
   berth attach --no-stdin web`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stdin", Usage: "do not attach stdin"},
			&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "forward signals to the container (not with a tty)"},
			detachKeysFlag(),
		},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			keys, err := opts.DetachKeys(c.String("detach-keys"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			ctr, err := cl.Inspect(ctx, c.Args().First())
			if err != nil {
				return err
			}
			if !ctr.State.Running {
				return fmt.Errorf("cannot attach to a stopped container %s; start it with `berth start -a %s`", c.Args().First(), c.Args().First())
			}
			return attachRun(ctx, env, cl, ctr.ID, attachFlow{
				tty:        ctr.Config.Tty,
				stdin:      !c.Bool("no-stdin") && ctr.Config.OpenStdin,
				sigProxy:   c.Bool("sig-proxy") && !ctr.Config.Tty,
				cond:       container.WaitNotRunning,
				detachKeys: keys,
			})
		}),
	}
}

// Top is `berth top`.
func Top(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "top",
		BashComplete: completeContainers(env, false),
		Usage:        "Display the running processes of a container",
		UsageText:    "berth top CONTAINER [ps OPTIONS]",
		Description: `Runs ps on the host for the container's processes (default options -ef).

Examples:
   berth top web
   berth top web -o pid,comm`,
		SkipFlagParsing: false,
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			psArgs := ""
			if c.NArg() > 1 {
				psArgs = joinArgs(c.Args().Slice()[1:])
			}
			res, err := cl.Top(ctx, c.Args().First(), psArgs)
			if err != nil {
				return err
			}
			return writeTable(env.Stdout, res.Titles, res.Processes)
		}),
	}
}
