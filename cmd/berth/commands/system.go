package commands

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// APIVersion is the berth.v1 API the CLI speaks.
const APIVersion = berthv1.APIVersion

// ClientVersion is the client part of `berth version`.
type ClientVersion struct {
	Version    string `json:"Version"`
	APIVersion string `json:"ApiVersion"`
	GoVersion  string `json:"GoVersion"`
	Os         string `json:"Os"`
	Arch       string `json:"Arch"`
}

// versionInfo is what `berth version --format` templates see.
type versionInfo struct {
	Client ClientVersion   `json:"Client"`
	Server *system.Version `json:"Server"`
}

// Version is `berth version`.
func Version(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "Show the berth and berthd versions",
		UsageText: "berth version [OPTIONS]",
		Description: `Examples:
   berth version
   berth version --format '{{.Server.Version}}'
   berth version --format json`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template over .Client and .Server, or json"}},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			v := versionInfo{Client: ClientVersion{
				Version: env.Version, APIVersion: APIVersion, GoVersion: runtime.Version(),
				Os: runtime.GOOS, Arch: runtime.GOARCH,
			}}
			var serverErr error
			if cl, err := env.dial(c); err != nil {
				serverErr = err
			} else {
				v.Server, serverErr = cl.Version(c.Context)
				cl.Close()
			}
			if f := c.String("format"); f != "" {
				tf, err := formatter.Parse(f, "")
				if err != nil {
					return &ExitError{Code: ExitBerthFailed, Err: err}
				}
				if err := tf.Write(env.Stdout, nil, []any{v}); err != nil {
					return err
				}
				return serverErr
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 1, 1, ' ', 0)
			fmt.Fprintf(tw, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				v.Client.Version, v.Client.APIVersion, v.Client.GoVersion, v.Client.Os, v.Client.Arch)
			if s := v.Server; s != nil {
				fmt.Fprintf(tw, "\nServer:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n Git commit:\t%s\n OS/Arch:\t%s/%s\n containerd:\t%s\n runc:\t%s\n",
					s.Version, s.APIVersion, s.GoVersion, s.GitCommit, s.Os, s.Arch, s.ContainerdVersion, s.RuncVersion)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return serverErr
		},
	}
}

// Info is `berth info`.
func Info(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "Show system-wide information about berthd",
		UsageText: "berth info [OPTIONS]",
		Description: `Examples:
   berth info
   berth info --format '{{.ContainersRunning}} running'
   berth info --format json`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template over the info object, or json"}},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			info, err := cl.Info(ctx)
			if err != nil {
				return err
			}
			if f := c.String("format"); f != "" {
				tf, err := formatter.Parse(f, "")
				if err != nil {
					return &ExitError{Code: ExitBerthFailed, Err: err}
				}
				return tf.Write(env.Stdout, nil, []any{info})
			}
			return writeInfo(env, info)
		}),
	}
}

func writeInfo(env *Env, i *system.Info) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 1, 1, ' ', 0)
	fmt.Fprintf(tw, "Containers:\t%d\n Running:\t%d\n Paused:\t%d\n Stopped:\t%d\nImages:\t%d\n",
		i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images)
	rows := [][2]string{
		{"Server Version", i.ServerVersion},
		{"containerd Version", i.ContainerdVersion},
		{"containerd Address", i.ContainerdAddress},
		{"containerd Namespace", i.Namespace},
		{"Default Runtime", i.DefaultRuntime},
		{"Snapshotter", i.Snapshotter},
		{"Logging Driver", i.LoggingDriver},
		{"Cgroup Version", i.CgroupVersion},
		{"Kernel Version", i.KernelVersion},
		{"Operating System", i.OperatingSystem},
		{"Architecture", i.Architecture},
		{"CPUs", fmt.Sprint(i.NCPU)},
		{"Total Memory", formatter.HumanSize(i.MemTotal)},
		{"Name", i.Name},
		{"ID", i.ID},
		{"Root Dir", i.RootDir},
		{"State Dir", i.StateDir},
		{"CDI Spec Dirs", strings.Join(i.CDISpecDirs, ", ")},
		{"CDI Devices", strings.Join(i.CDIDevices, ", ")},
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
	}
	return tw.Flush()
}

// Events is `berth events`.
func Events(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "events",
		Usage:     "Stream events from berthd",
		UsageText: "berth events [OPTIONS]",
		Description: `Prints events as they happen until interrupted, or until --until passes.
--since replays recent events. Filters: type (container, image, network,
volume, daemon, service), event (start, die, ...), container, image,
service, label.

Examples:
   berth events
   berth events --since 10m --until 0s --filter event=die
   berth events --filter container=web --format '{{.Action}} {{.Actor.Attributes.exitCode}}'`,
		Flags: []cli.Flag{
			newSliceFlag("filter", "f", "filter events (key=value)"),
			&cli.StringFlag{Name: "since", Usage: "show events since a time (RFC 3339, Unix time, or e.g. 10m)"},
			&cli.StringFlag{Name: "until", Usage: "stream events until a time (RFC 3339, Unix time, or e.g. 0s for now)"},
			&cli.StringFlag{Name: "format", Usage: "Go template over an event, or json"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			now := env.now()
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			f := events.Filter{Filters: filters}
			if f.Since, err = opts.Timestamp(c.String("since"), now); err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("--since: %w", err)}
			}
			if f.Until, err = opts.Timestamp(c.String("until"), now); err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("--until: %w", err)}
			}
			var tf *formatter.Format
			if s := c.String("format"); s != "" {
				if tf, err = formatter.Parse(s, ""); err != nil {
					return &ExitError{Code: ExitBerthFailed, Err: err}
				}
			}
			cl, err := env.dial(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			msgs, errs := cl.Events(c.Context, f)
			for m := range msgs {
				if tf != nil {
					err = tf.Write(env.Stdout, nil, []any{m})
				} else {
					_, err = fmt.Fprintln(env.Stdout, EventLine(m))
				}
				if err != nil {
					return err
				}
			}
			return <-errs
		},
	}
}

// EventLine is Docker's default event line:
// "2026-01-02T15:04:05.000000000Z container start 4f2c… (image=busybox, name=web)".
func EventLine(m events.Message) string {
	var b strings.Builder
	b.WriteString(m.Time.Local().Format(rfc3339NanoFixed))
	b.WriteString(" " + m.Type + " " + m.Action + " " + m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + m.Actor.Attributes[k]
		}
		b.WriteString(" (" + strings.Join(keys, ", ") + ")")
	}
	return b.String()
}
