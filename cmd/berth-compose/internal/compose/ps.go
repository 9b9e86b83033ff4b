package compose

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// psRow is one line of ps, with docker compose's JSON keys.
type psRow struct {
	ID         string `json:"ID"`
	Name       string `json:"Name"`
	Names      string `json:"Names"`
	Image      string `json:"Image"`
	Command    string `json:"Command"`
	Project    string `json:"Project"`
	Service    string `json:"Service"`
	CreatedAt  string `json:"CreatedAt"`
	State      string `json:"State"`
	Status     string `json:"Status"`
	Health     string `json:"Health"`
	ExitCode   int    `json:"ExitCode"`
	Ports      string `json:"Ports"`
	Labels     string `json:"Labels"`
	Networks   string `json:"Networks"`
	RunningFor string `json:"RunningFor"`
}

func (a *app) cmdPs() *cli.Command {
	return &cli.Command{
		Name: "ps", Usage: "list containers", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all stopped containers (including those created by the run command)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display IDs"},
			&cli.BoolFlag{Name: "services", Usage: "display services"},
			&cli.StringSliceFlag{Name: "status", Usage: "filter services by status: paused, restarting, removing, running, dead, created, exited"},
			&cli.StringSliceFlag{Name: "filter", Usage: "filter services by a property (status=running)"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table, json, or a Go template"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.BoolFlag{Name: "orphans", Value: true, Usage: "include orphaned services (not declared by project)"},
		},
		Action: func(c *cli.Context) error {
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			if _, err := serviceNames(p, c.Args().Slice()); err != nil {
				return err
			}
			list, err := a.containers(c.Context, p.Name, c.Bool("all"), c.Args().Slice()...)
			if err != nil {
				return err
			}
			statuses := c.StringSlice("status")
			for _, f := range c.StringSlice("filter") {
				k, v, _ := strings.Cut(f, "=")
				if k != "status" {
					return usage("unsupported filter %q: ps filters on status", k)
				}
				statuses = append(statuses, v)
			}
			var rows []psRow
			for _, ct := range list {
				if !c.Bool("all") && len(statuses) == 0 && ct.State != container.StatusRunning && ct.State != container.StatusPaused && ct.State != container.StatusRestarting {
					continue
				}
				if len(statuses) > 0 && !contains(statuses, ct.State) {
					continue
				}
				if !c.Bool("orphans") && len(p.Services) > 0 {
					if _, ok := p.Services[ct.Labels[labelService]]; !ok {
						continue
					}
				}
				rows = append(rows, toRow(ct))
			}
			if c.Bool("services") {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.Service] {
						seen[r.Service] = true
						fmt.Fprintln(a.env.Stdout, r.Service)
					}
				}
				return nil
			}
			if c.Bool("quiet") {
				for _, r := range rows {
					fmt.Fprintln(a.env.Stdout, r.ID)
				}
				return nil
			}
			switch f := c.String("format"); f {
			case "json":
				for _, r := range rows {
					if err := writeJSON(a.env.Stdout, r); err != nil {
						return err
					}
				}
				return nil
			case "table", "":
				tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
				for _, r := range rows {
					cmd := r.Command
					if !c.Bool("no-trunc") && len(cmd) > 20 {
						cmd = cmd[:19] + "…"
					}
					fmt.Fprintf(tw, "%s\t%s\t\"%s\"\t%s\t%s\t%s\t%s\n", r.Name, r.Image, cmd, r.Service, r.RunningFor, r.Status, r.Ports)
				}
				return tw.Flush()
			default:
				f = strings.TrimPrefix(f, "table ")
				t, err := template.New("ps").Funcs(template.FuncMap{"json": func(v any) string {
					var b strings.Builder
					_ = writeJSON(&b, v)
					return strings.TrimSpace(b.String())
				}}).Parse(f)
				if err != nil {
					return usage("invalid --format: %v", err)
				}
				for _, r := range rows {
					if err := t.Execute(a.env.Stdout, r); err != nil {
						return err
					}
					fmt.Fprintln(a.env.Stdout)
				}
				return nil
			}
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func toRow(ct container.Summary) psRow {
	var labels []string
	for k, v := range ct.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	return psRow{
		ID: ct.ID, Name: name(ct), Names: name(ct), Image: ct.Image, Command: ct.Command,
		Project: ct.Labels[labelProject], Service: ct.Labels[labelService],
		CreatedAt: ct.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		State:     ct.State, Status: ct.Status, Health: ct.Health, ExitCode: ct.ExitCode,
		RunningFor: units.HumanDuration(time.Since(ct.Created)) + " ago",
		Ports:      formatPorts(ct.Ports), Labels: strings.Join(labels, ","), Networks: strings.Join(ct.Networks, ","),
	}
}

// formatPorts is docker's PORTS column: 0.0.0.0:8080->80/tcp.
func formatPorts(ps []container.PortBinding) string {
	var out []string
	for _, p := range ps {
		proto := p.Proto
		if proto == "" {
			proto = "tcp"
		}
		if p.HostPort == 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
			continue
		}
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, proto))
	}
	return strings.Join(out, ", ")
}

func (a *app) cmdLs() *cli.Command {
	return &cli.Command{
		Name: "ls", Usage: "list running compose projects",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all stopped compose projects"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display project names"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			&cli.StringSliceFlag{Name: "filter", Usage: "filter output based on conditions provided (name=NAME)"},
		},
		Action: func(c *cli.Context) error {
			cl, err := a.client(c.Context)
			if err != nil {
				return err
			}
			list, err := cl.List(c.Context, container.ListOptions{All: true, Filters: map[string][]string{"label": {labelProject}}})
			if err != nil {
				return err
			}
			var nameFilter []string
			for _, f := range c.StringSlice("filter") {
				k, v, _ := strings.Cut(f, "=")
				if k != "name" {
					return usage("unsupported filter %q: ls filters on name", k)
				}
				nameFilter = append(nameFilter, v)
			}
			type project struct {
				Name        string `json:"Name"`
				Status      string `json:"Status"`
				ConfigFiles string `json:"ConfigFiles"`
				states      map[string]int
			}
			byName := map[string]*project{}
			for _, ct := range list {
				n := ct.Labels[labelProject]
				pr := byName[n]
				if pr == nil {
					pr = &project{Name: n, ConfigFiles: ct.Labels[labelConfigFiles], states: map[string]int{}}
					byName[n] = pr
				}
				pr.states[ct.State]++
			}
			var out []*project
			for _, pr := range byName {
				if len(nameFilter) > 0 && !contains(nameFilter, pr.Name) {
					continue
				}
				if !c.Bool("all") && pr.states[container.StatusRunning] == 0 {
					continue
				}
				var parts []string
				for _, st := range []string{container.StatusRunning, container.StatusPaused, container.StatusRestarting, container.StatusCreated, container.StatusExited, container.StatusDead} {
					if n := pr.states[st]; n > 0 {
						parts = append(parts, fmt.Sprintf("%s(%d)", st, n))
					}
				}
				pr.Status = strings.Join(parts, ", ")
				out = append(out, pr)
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
			switch {
			case c.Bool("quiet"):
				for _, pr := range out {
					fmt.Fprintln(a.env.Stdout, pr.Name)
				}
				return nil
			case c.String("format") == "json":
				if out == nil {
					out = []*project{}
				}
				return writeJSON(a.env.Stdout, out)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
			for _, pr := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", pr.Name, pr.Status, pr.ConfigFiles)
			}
			return tw.Flush()
		},
	}
}
