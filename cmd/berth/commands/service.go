package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// withServices is withArgs for the service commands.
func withServices(env *Env, min, max int, fn func(ctx context.Context, c *cli.Context, cl Client, s api.Services) error) cli.ActionFunc {
	return withArgs(env, min, max, func(ctx context.Context, c *cli.Context, cl Client) error {
		return fn(ctx, c, cl, cl.Services())
	})
}

// ServiceCommand is `berth service` and its subcommands.
func ServiceCommand(env *Env) *cli.Command {
	return Group("service", "Manage the cluster's services",
		ServiceCreate(env), ServiceLs(env), ServicePs(env), ServiceInspect(env), ServiceLogs(env),
		ServiceScale(env), ServiceUpdate(env), ServiceRollback(env), ServiceRm(env))
}

// specFlags are the flags create and update share (update adds -add/-rm
// forms for lists).
func specFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (KEY=VALUE)"},
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "service label (KEY=VALUE)"},
		&cli.StringSliceFlag{Name: "container-label", Usage: "container label (KEY=VALUE)"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [PUBLISHED:]TARGET[/PROTO] or mode=host,target=80,published=8080,protocol=tcp"},
		&cli.StringSliceFlag{Name: "network", Usage: "attach to an overlay network"},
		&cli.StringSliceFlag{Name: "mount", Usage: "attach a filesystem mount (Docker's --mount syntax)"},
		&cli.StringSliceFlag{Name: "constraint", Usage: "placement constraint (node.hostname==h1, node.labels.zone==a, node.role==manager, node.id==ID)"},
		&cli.StringSliceFlag{Name: "placement-pref", Usage: "placement preference (spread=node.labels.zone)"},
		&cli.Uint64Flag{Name: "max-replicas", Usage: "maximum number of tasks per node (0: unlimited)"},
		&cli.StringFlag{Name: "limit-cpu", Usage: "limit CPUs"},
		&cli.StringFlag{Name: "limit-memory", Usage: "limit memory"},
		&cli.Int64Flag{Name: "limit-pids", Usage: "limit the number of processes (0: unlimited)"},
		&cli.StringFlag{Name: "reserve-cpu", Usage: "reserve CPUs"},
		&cli.StringFlag{Name: "reserve-memory", Usage: "reserve memory"},
		&cli.StringFlag{Name: "restart-condition", Usage: `restart when condition is met ("none", "on-failure", "any")`},
		&cli.DurationFlag{Name: "restart-delay", Usage: "delay between restart attempts (ns|us|ms|s|m|h)", DefaultText: "5s"},
		&cli.Uint64Flag{Name: "restart-max-attempts", Usage: "maximum number of restarts before giving up"},
		&cli.DurationFlag{Name: "restart-window", Usage: "window used to evaluate the restart policy (ns|us|ms|s|m|h)"},
		&cli.Uint64Flag{Name: "update-parallelism", Usage: "maximum number of tasks updated simultaneously (0 to update all at once)", DefaultText: "1"},
		&cli.DurationFlag{Name: "update-delay", Usage: "delay between updates (ns|us|ms|s|m|h)"},
		&cli.StringFlag{Name: "update-failure-action", Usage: `action on update failure ("pause", "continue", "rollback")`},
		&cli.DurationFlag{Name: "update-monitor", Usage: "duration after each task update to monitor for failure (ns|us|ms|s|m|h)", DefaultText: "5s"},
		&cli.Float64Flag{Name: "update-max-failure-ratio", Usage: "failure rate to tolerate during an update"},
		&cli.StringFlag{Name: "update-order", Usage: `update order ("start-first", "stop-first")`},
		&cli.Uint64Flag{Name: "rollback-parallelism", Usage: "maximum number of tasks rolled back simultaneously (0 to roll back all at once)", DefaultText: "1"},
		&cli.DurationFlag{Name: "rollback-delay", Usage: "delay between task rollbacks (ns|us|ms|s|m|h)"},
		&cli.StringFlag{Name: "rollback-failure-action", Usage: `action on rollback failure ("pause", "continue")`},
		&cli.DurationFlag{Name: "rollback-monitor", Usage: "duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)", DefaultText: "5s"},
		&cli.Float64Flag{Name: "rollback-max-failure-ratio", Usage: "failure rate to tolerate during a rollback"},
		&cli.StringFlag{Name: "rollback-order", Usage: `rollback order ("start-first", "stop-first")`},
		&cli.StringFlag{Name: "endpoint-mode", Usage: `endpoint mode ("vip", "dnsrr")`},
		&cli.StringFlag{Name: "hostname", Usage: "container hostname (templates: {{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}})"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "username or UID (format: <name|uid>[:<group|gid>])"},
		&cli.StringFlag{Name: "entrypoint", Usage: "overwrite the default ENTRYPOINT of the image"},
		&cli.StringFlag{Name: "stop-signal", Usage: "signal to stop the container"},
		&cli.DurationFlag{Name: "stop-grace-period", Usage: "time to wait before force killing a container (ns|us|ms|s|m|h)", DefaultText: "10s"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root filesystem as read only"},
		&cli.BoolFlag{Name: "init", Usage: "use an init inside each service container to forward signals and reap processes"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add a custom host-to-IP mapping (host:ip; Docker's --host, a name berth's global --host takes)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "set custom DNS servers"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add Linux capabilities"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop Linux capabilities"},
		&cli.StringFlag{Name: "health-cmd", Usage: "command to run to check health"},
		&cli.DurationFlag{Name: "health-interval", Usage: "time between running the check (ms|s|m|h)"},
		&cli.DurationFlag{Name: "health-timeout", Usage: "maximum time to allow one check to run (ms|s|m|h)"},
		&cli.IntFlag{Name: "health-retries", Usage: "consecutive failures needed to report unhealthy"},
		&cli.DurationFlag{Name: "health-start-period", Usage: "start period for the container to initialize before counting retries towards unstable (ms|s|m|h)"},
		&cli.DurationFlag{Name: "health-start-interval", Usage: "time between running the check during the start period (ms|s|m|h)"},
		&cli.BoolFlag{Name: "no-healthcheck", Usage: "disable any container-specified HEALTHCHECK"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "exit immediately instead of waiting for the service to converge"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress progress output"},
	}
}

// ServiceCreate is `berth service create`.
func ServiceCreate(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "Create a new service",
		UsageText: "berth service create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Description: `The service's tasks run on the cluster's nodes, spread over those that meet
the constraints; the leader keeps their number when containers or nodes die.
Without --detach the command waits until the tasks run, showing progress.

Examples:
   berth service create --name web --replicas 6 -p 8080:80 --network front nginx
   berth service create --name agent --mode global busybox sleep infinity`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "service name"},
			&cli.StringFlag{Name: "mode", Value: "replicated", Usage: `service mode ("replicated" or "global")`},
			&cli.Uint64Flag{Name: "replicas", Usage: "number of tasks", DefaultText: "1"},
		}, specFlags()...),
		Action: withServices(env, 1, -1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			cs := &stypes.ContainerSpec{Image: c.Args().First(), Args: c.Args().Slice()[1:]}
			spec := stypes.ServiceSpec{Name: c.String("name"), TaskTemplate: stypes.TaskSpec{ContainerSpec: cs}}
			switch c.String("mode") {
			case "replicated":
				n := uint64(1)
				if c.IsSet("replicas") {
					n = c.Uint64("replicas")
				}
				spec.Mode.Replicated = &stypes.ReplicatedService{Replicas: n}
			case "global":
				if c.IsSet("replicas") {
					return &ExitError{Code: 1, Err: errors.New("--replicas can only be used with replicated mode")}
				}
				spec.Mode.Global = &stypes.GlobalService{}
			default:
				return &ExitError{Code: 1, Err: fmt.Errorf("invalid --mode %q: use replicated or global", c.String("mode"))}
			}
			if err := applySpecFlags(c, env, &spec, true); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			res, err := s.Create(ctx, spec)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(env.Stderr, w)
			}
			fmt.Fprintln(env.Stdout, res.ID)
			if c.Bool("detach") {
				return nil
			}
			return waitConverged(ctx, env, s, res.ID, c.Bool("quiet"))
		}),
	}
}

// applySpecFlags sets what the flags give on spec (create: every flag;
// update: the ones set, with their -add/-rm forms).
func applySpecFlags(c *cli.Context, env *Env, spec *stypes.ServiceSpec, create bool) error {
	tt := &spec.TaskTemplate
	cs := tt.ContainerSpec
	set := c.IsSet
	var err error
	if set("env") {
		if cs.Env, err = opts.Env(c.StringSlice("env"), env.lookupEnv); err != nil {
			return err
		}
	}
	if set("label") {
		if spec.Labels, err = opts.Labels(c.StringSlice("label")); err != nil {
			return err
		}
	}
	if set("container-label") {
		if cs.Labels, err = opts.Labels(c.StringSlice("container-label")); err != nil {
			return err
		}
	}
	if set("publish") {
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &stypes.EndpointSpec{}
		}
		if spec.EndpointSpec.Ports, err = parsePublish(c.StringSlice("publish")); err != nil {
			return err
		}
	}
	if set("endpoint-mode") {
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &stypes.EndpointSpec{}
		}
		spec.EndpointSpec.Mode = c.String("endpoint-mode")
	}
	if set("network") {
		tt.Networks = nil
		for _, n := range c.StringSlice("network") {
			tt.Networks = append(tt.Networks, stypes.NetworkAttachmentConfig{Target: n})
		}
	}
	if set("mount") {
		cs.Mounts = nil
		for _, m := range c.StringSlice("mount") {
			ms, err := opts.ParseMount(m)
			if err != nil {
				return err
			}
			cs.Mounts = append(cs.Mounts, ms)
		}
	}
	placement := func() *stypes.Placement {
		if tt.Placement == nil {
			tt.Placement = &stypes.Placement{}
		}
		return tt.Placement
	}
	if set("constraint") {
		placement().Constraints = c.StringSlice("constraint")
	}
	if set("placement-pref") {
		prefs, err := parsePrefs(c.StringSlice("placement-pref"))
		if err != nil {
			return err
		}
		placement().Preferences = prefs
	}
	if set("max-replicas") {
		placement().MaxReplicas = c.Uint64("max-replicas")
	}
	res := func() *stypes.ResourceRequirements {
		if tt.Resources == nil {
			tt.Resources = &stypes.ResourceRequirements{}
		}
		return tt.Resources
	}
	if set("limit-cpu") || set("limit-memory") || set("limit-pids") {
		r := res()
		if r.Limits == nil {
			r.Limits = &stypes.Limit{}
		}
		if set("limit-cpu") {
			if r.Limits.NanoCPUs, err = opts.NanoCPUs(c.String("limit-cpu")); err != nil {
				return err
			}
		}
		if set("limit-memory") {
			if r.Limits.MemoryBytes, err = memBytes("limit-memory", c.String("limit-memory")); err != nil {
				return err
			}
		}
		if set("limit-pids") {
			r.Limits.Pids = c.Int64("limit-pids")
		}
	}
	if set("reserve-cpu") || set("reserve-memory") {
		r := res()
		if r.Reservations == nil {
			r.Reservations = &stypes.Resources{}
		}
		if set("reserve-cpu") {
			if r.Reservations.NanoCPUs, err = opts.NanoCPUs(c.String("reserve-cpu")); err != nil {
				return err
			}
		}
		if set("reserve-memory") {
			if r.Reservations.MemoryBytes, err = memBytes("reserve-memory", c.String("reserve-memory")); err != nil {
				return err
			}
		}
	}
	if set("restart-condition") || set("restart-delay") || set("restart-max-attempts") || set("restart-window") {
		if tt.RestartPolicy == nil {
			tt.RestartPolicy = &stypes.RestartPolicy{}
		}
		rp := tt.RestartPolicy
		if set("restart-condition") {
			rp.Condition = c.String("restart-condition")
		}
		if set("restart-delay") {
			d := c.Duration("restart-delay")
			rp.Delay = &d
		}
		if set("restart-max-attempts") {
			n := c.Uint64("restart-max-attempts")
			rp.MaxAttempts = &n
		}
		if set("restart-window") {
			d := c.Duration("restart-window")
			rp.Window = &d
		}
	}
	for _, which := range []string{"update", "rollback"} {
		names := []string{"parallelism", "delay", "failure-action", "monitor", "max-failure-ratio", "order"}
		anySet := create && which == "update" || create && which == "rollback"
		for _, n := range names {
			anySet = anySet || set(which+"-"+n)
		}
		if !anySet {
			continue
		}
		ucp := &spec.UpdateConfig
		if which == "rollback" {
			ucp = &spec.RollbackConfig
		}
		if *ucp == nil {
			*ucp = &stypes.UpdateConfig{Parallelism: 1}
		}
		u := *ucp
		if set(which + "-parallelism") {
			u.Parallelism = c.Uint64(which + "-parallelism")
		}
		if set(which + "-delay") {
			u.Delay = c.Duration(which + "-delay")
		}
		if set(which + "-failure-action") {
			u.FailureAction = c.String(which + "-failure-action")
		}
		if set(which + "-monitor") {
			u.Monitor = c.Duration(which + "-monitor")
		}
		if set(which + "-max-failure-ratio") {
			u.MaxFailureRatio = float32(c.Float64(which + "-max-failure-ratio"))
		}
		if set(which + "-order") {
			u.Order = c.String(which + "-order")
		}
	}
	if set("hostname") {
		cs.Hostname = c.String("hostname")
	}
	if set("workdir") {
		cs.Dir = c.String("workdir")
	}
	if set("user") {
		cs.User = c.String("user")
	}
	if set("entrypoint") {
		cs.Command = strings.Fields(c.String("entrypoint"))
	}
	if set("stop-signal") {
		cs.StopSignal = c.String("stop-signal")
	}
	if set("stop-grace-period") {
		d := c.Duration("stop-grace-period")
		cs.StopGracePeriod = &d
	}
	if set("read-only") {
		cs.ReadOnly = c.Bool("read-only")
	}
	if set("init") {
		b := c.Bool("init")
		cs.Init = &b
	}
	if set("tty") {
		cs.TTY = c.Bool("tty")
	}
	if set("add-host") {
		cs.Hosts = nil
		for _, h := range c.StringSlice("add-host") {
			name, ip, ok := strings.Cut(h, ":")
			if !ok {
				return fmt.Errorf("invalid --add-host %q: use HOST:IP", h)
			}
			cs.Hosts = append(cs.Hosts, ip+" "+name)
		}
	}
	if set("dns") {
		if cs.DNSConfig == nil {
			cs.DNSConfig = &stypes.DNSConfig{}
		}
		cs.DNSConfig.Nameservers = c.StringSlice("dns")
	}
	if set("cap-add") {
		cs.CapabilityAdd = c.StringSlice("cap-add")
	}
	if set("cap-drop") {
		cs.CapabilityDrop = c.StringSlice("cap-drop")
	}
	// --health-*: the container flags' own parsing.
	var hc container.Config
	if err := healthFlags().apply(c, env, &hc); err != nil {
		return err
	}
	if hc.Healthcheck != nil {
		cs.Healthcheck = hc.Healthcheck
	}
	return nil
}

func memBytes(flag, v string) (int64, error) {
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid --%s %q: want a size such as 512m or 1g", flag, v)
	}
	return n, nil
}

func parsePrefs(values []string) ([]stypes.PlacementPreference, error) {
	var out []stypes.PlacementPreference
	for _, v := range values {
		k, d, ok := strings.Cut(v, "=")
		if !ok || k != "spread" || d == "" {
			return nil, fmt.Errorf("invalid --placement-pref %q: use spread=node.labels.KEY", v)
		}
		out = append(out, stypes.PlacementPreference{Spread: &stypes.SpreadOver{SpreadDescriptor: d}})
	}
	return out, nil
}

// parsePublish reads -p values: [PUBLISHED:]TARGET[/PROTO], or the long
// form mode=host,target=80,published=8080,protocol=udp.
func parsePublish(values []string) ([]stypes.PortConfig, error) {
	var out []stypes.PortConfig
	for _, v := range values {
		var p stypes.PortConfig
		if strings.Contains(v, "=") {
			for _, kv := range strings.Split(v, ",") {
				k, val, _ := strings.Cut(kv, "=")
				switch strings.TrimSpace(k) {
				case "mode":
					p.PublishMode = val
				case "target":
					n, err := strconv.ParseUint(val, 10, 16)
					if err != nil {
						return nil, fmt.Errorf("invalid --publish %q: target %q is not a port", v, val)
					}
					p.TargetPort = uint32(n)
				case "published":
					n, err := strconv.ParseUint(val, 10, 16)
					if err != nil {
						return nil, fmt.Errorf("invalid --publish %q: published %q is not a port", v, val)
					}
					p.PublishedPort = uint32(n)
				case "protocol":
					p.Protocol = val
				default:
					return nil, fmt.Errorf("invalid --publish %q: unknown field %q (use mode, target, published, protocol)", v, k)
				}
			}
		} else {
			spec, proto, _ := strings.Cut(v, "/")
			p.Protocol = proto
			pub, tgt, hasPub := strings.Cut(spec, ":")
			if !hasPub {
				tgt, pub = pub, ""
			}
			n, err := strconv.ParseUint(tgt, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("invalid --publish %q: use [PUBLISHED:]TARGET[/PROTO]", v)
			}
			p.TargetPort = uint32(n)
			if pub != "" {
				n, err := strconv.ParseUint(pub, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("invalid --publish %q: use [PUBLISHED:]TARGET[/PROTO]", v)
				}
				p.PublishedPort = uint32(n)
			}
		}
		if p.TargetPort == 0 {
			return nil, fmt.Errorf("invalid --publish %q: no target port", v)
		}
		out = append(out, p)
	}
	return out, nil
}

// waitConverged shows the service's progress until its tasks run (or an
// update ends), as Docker's --detach=false does.
func waitConverged(ctx context.Context, env *Env, s api.Services, id string, quiet bool) error {
	last := ""
	for {
		svc, err := s.Inspect(ctx, id)
		if err != nil {
			return err
		}
		tasks, err := s.Tasks(ctx, stypes.TaskListOptions{Filters: map[string][]string{"service": {svc.ID}, "desired-state": {"running"}}})
		if err != nil {
			return err
		}
		running, want := 0, len(tasks)
		var errs []string
		for _, t := range tasks {
			if t.Status.State == stypes.TaskStateRunning {
				running++
			} else if t.Status.Err != "" {
				errs = append(errs, fmt.Sprintf("%s: %s", t.ID[:min(12, len(t.ID))], t.Status.Err))
			}
		}
		if svc.Spec.Mode.Replicated != nil {
			want = int(svc.Spec.Mode.Replicated.Replicas)
		}
		line := fmt.Sprintf("overall progress: %d out of %d tasks", running, want)
		if len(errs) > 0 {
			line += " (" + strings.Join(errs, "; ") + ")"
		}
		if !quiet && line != last {
			fmt.Fprintln(env.Stdout, line)
			last = line
		}
		if us := svc.UpdateStatus; us != nil {
			switch us.State {
			case stypes.UpdateStatePaused, stypes.UpdateStateRollbackPaused:
				return &ExitError{Code: 1, Err: errors.New(us.Message)}
			}
		}
		updating := svc.UpdateStatus != nil && (svc.UpdateStatus.State == stypes.UpdateStateUpdating || svc.UpdateStatus.State == stypes.UpdateStateRollbackStarted)
		if running == want && len(tasks) == want && !updating {
			if !quiet {
				fmt.Fprintf(env.Stdout, "verify: Service %s converged\n", svc.ID)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

const defaultServiceFormat = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"

var serviceHeaders = map[string]string{"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS"}

type serviceRow struct {
	s       stypes.Service
	noTrunc bool
}

func (r serviceRow) ID() string {
	if r.noTrunc {
		return r.s.ID
	}
	return r.s.ID[:min(12, len(r.s.ID))]
}
func (r serviceRow) Name() string { return r.s.Spec.Name }
func (r serviceRow) Mode() string {
	if r.s.Spec.Mode.Global != nil {
		return "global"
	}
	return "replicated"
}
func (r serviceRow) Replicas() string {
	st := r.s.ServiceStatus
	if st == nil {
		return ""
	}
	s := fmt.Sprintf("%d/%d", st.RunningTasks, st.DesiredTasks)
	if p := r.s.Spec.TaskTemplate.Placement; p != nil && p.MaxReplicas > 0 {
		s += fmt.Sprintf(" (max %d per node)", p.MaxReplicas)
	}
	return s
}
func (r serviceRow) Image() string {
	if cs := r.s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		return cs.Image
	}
	return ""
}
func (r serviceRow) Ports() string {
	var out []string
	for _, p := range r.s.Endpoint.Ports {
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}
func (r serviceRow) Label(k string) string { return r.s.Spec.Labels[k] }
func (r serviceRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{"ID": r.ID(), "Name": r.Name(), "Mode": r.Mode(), "Replicas": r.Replicas(), "Image": r.Image(), "Ports": r.Ports()})
}

// ServiceLs is `berth service ls`.
func ServiceLs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "List services",
		UsageText: "berth service ls [OPTIONS]",
		Description: `Filters: id, name, label, mode (replicated|global).
Format fields: .ID .Name .Mode .Replicas .Image .Ports (.Label "key")`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display IDs"},
		},
		Action: withServices(env, 0, 0, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			f, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.ID}}"
			}
			tf, err := formatter.Parse(format, defaultServiceFormat)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			list, err := s.List(ctx, stypes.ListOptions{Filters: f, Status: true})
			if err != nil {
				return err
			}
			rows := make([]any, len(list))
			for i, sv := range list {
				rows[i] = serviceRow{s: sv, noTrunc: c.Bool("quiet")}
			}
			return tf.Write(env.Stdout, serviceHeaders, rows)
		}),
	}
}

const defaultTaskFormat = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}"

var taskHeaders = map[string]string{"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
	"CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS"}

type taskRow struct {
	t       stypes.Task
	node    string
	history bool
	noTrunc bool
}

func (r taskRow) ID() string {
	if r.noTrunc {
		return r.t.ID
	}
	return r.t.ID[:min(12, len(r.t.ID))]
}
func (r taskRow) Name() string {
	n := r.t.ServiceName
	if r.t.Slot > 0 {
		n += "." + strconv.Itoa(r.t.Slot)
	} else {
		n += "." + r.t.NodeID
	}
	if r.history {
		return ` \_ ` + n
	}
	return n
}
func (r taskRow) Image() string {
	if cs := r.t.Spec.ContainerSpec; cs != nil {
		return cs.Image
	}
	return ""
}
func (r taskRow) Node() string         { return r.node }
func (r taskRow) DesiredState() string { return capitalize(r.t.DesiredState) }
func (r taskRow) CurrentState() string {
	return fmt.Sprintf("%s %s ago", capitalize(r.t.Status.State), units.HumanDuration(time.Since(r.t.Status.Timestamp)))
}
func (r taskRow) Error() string {
	e := r.t.Status.Err
	if !r.noTrunc && len(e) > 60 {
		e = e[:59] + "…"
	}
	if e == "" {
		return ""
	}
	return `"` + e + `"`
}

// Ports are the ports the task publishes on its node (mode host), as
// Docker prints them; a service's ingress ports are on every node, so no
// task's (service ls shows them).
func (r taskRow) Ports() string {
	ports := make([]string, 0, len(r.t.Status.PortStatus.Ports))
	for _, p := range r.t.Status.PortStatus.Ports {
		ports = append(ports, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(ports, ",")
}
func (r taskRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{"ID": r.ID(), "Name": r.Name(), "Image": r.Image(), "Node": r.Node(),
		"DesiredState": r.DesiredState(), "CurrentState": r.CurrentState(), "Error": r.t.Status.Err, "Ports": r.Ports()})
}

// ServicePs is `berth service ps`.
func ServicePs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "List the tasks of one or more services",
		UsageText: "berth service ps [OPTIONS] SERVICE [SERVICE...]",
		Description: `Each slot's current task first, then its earlier ones (\_), newest first.
Filters: id, name, node, desired-state (running|shutdown|accepted).
Format fields: .ID .Name .Image .Node .DesiredState .CurrentState .Error .Ports`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display task IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.BoolFlag{Name: "no-resolve", Usage: "do not map IDs to names"},
		},
		Action: withServices(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client, s api.Services) error {
			f, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if f == nil {
				f = map[string][]string{}
			}
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.ID}}"
			}
			tf, err := formatter.Parse(format, defaultTaskFormat)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			var ids []string
			for _, ref := range c.Args().Slice() {
				svc, err := s.Inspect(ctx, ref)
				if err != nil {
					return err
				}
				ids = append(ids, svc.ID)
			}
			f["service"] = ids
			tasks, err := s.Tasks(ctx, stypes.TaskListOptions{Filters: f})
			if err != nil {
				return err
			}
			names := map[string]string{}
			if !c.Bool("no-resolve") {
				if nodes, err := cl.Cluster().NodeList(ctx); err == nil {
					for _, n := range nodes {
						names[n.ID] = n.Hostname
					}
				}
			}
			// Per slot: the newest task first, its history after.
			sort.SliceStable(tasks, func(i, j int) bool {
				a, b := tasks[i], tasks[j]
				if a.ServiceName != b.ServiceName {
					return a.ServiceName < b.ServiceName
				}
				ka, kb := taskSlotKey(a), taskSlotKey(b)
				if ka != kb {
					return ka < kb
				}
				return a.CreatedAt.After(b.CreatedAt)
			})
			rows := make([]any, 0, len(tasks))
			prev := ""
			for _, t := range tasks {
				k := t.ServiceID + "/" + taskSlotKey(t)
				node := t.NodeID
				if n, ok := names[node]; ok {
					node = n
				}
				rows = append(rows, taskRow{t: t, node: node, history: k == prev, noTrunc: c.Bool("no-trunc") || c.Bool("quiet")})
				prev = k
			}
			return tf.Write(env.Stdout, taskHeaders, rows)
		}),
	}
}

func taskSlotKey(t stypes.Task) string {
	if t.Slot > 0 {
		return fmt.Sprintf("%08d", t.Slot)
	}
	return t.NodeID
}

// ServiceInspect is `berth service inspect`.
func ServiceInspect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Display detailed information on one or more services",
		UsageText: "berth service inspect [OPTIONS] SERVICE [SERVICE...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each service"},
			&cli.BoolFlag{Name: "pretty", Usage: "print the information in a human friendly format"},
		},
		Action: withServices(env, 1, -1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			if c.Bool("pretty") {
				for _, ref := range c.Args().Slice() {
					svc, err := s.Inspect(ctx, ref)
					if err != nil {
						return err
					}
					printPretty(env, svc)
				}
				return nil
			}
			return inspectEach(c, env, 1, true, func(ref string) (any, error) { return s.Inspect(ctx, ref) })
		}),
	}
}

func printPretty(env *Env, svc *stypes.Service) {
	w := env.Stdout
	fmt.Fprintf(w, "\nID:\t\t%s\nName:\t\t%s\n", svc.ID, svc.Spec.Name)
	if len(svc.Spec.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for _, k := range slices.Sorted(maps.Keys(svc.Spec.Labels)) {
			fmt.Fprintf(w, " %s=%s\n", k, svc.Spec.Labels[k])
		}
	}
	if svc.Spec.Mode.Global != nil {
		fmt.Fprintln(w, "Service Mode:\tGlobal")
	} else {
		fmt.Fprintf(w, "Service Mode:\tReplicated\n Replicas:\t%d\n", svc.Spec.Mode.Replicated.Replicas)
	}
	if us := svc.UpdateStatus; us != nil {
		fmt.Fprintf(w, "UpdateStatus:\n State:\t\t%s\n Message:\t%s\n", us.State, us.Message)
	}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		fmt.Fprintf(w, "ContainerSpec:\n Image:\t\t%s\n", cs.Image)
		if len(cs.Args) > 0 {
			fmt.Fprintf(w, " Args:\t\t%s\n", strings.Join(cs.Args, " "))
		}
	}
	if u := svc.Spec.UpdateConfig; u != nil {
		fmt.Fprintf(w, "UpdateConfig:\n Parallelism:\t%d\n Delay:\t\t%s\n On failure:\t%s\n Monitoring Period: %s\n Update order:\t%s\n", u.Parallelism, u.Delay, u.FailureAction, u.Monitor, u.Order)
	}
	for _, p := range svc.Endpoint.Ports {
		fmt.Fprintf(w, "Ports:\n PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = %s\n", p.PublishedPort, p.Protocol, p.TargetPort, p.PublishMode)
	}
	fmt.Fprintf(w, "Endpoint Mode:\t%s\n", svc.Endpoint.Spec.Mode)
}

// ServiceLogs is `berth service logs`.
func ServiceLogs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "Fetch the logs of a service or task",
		UsageText: "berth service logs [OPTIONS] SERVICE|TASK",
		Description: `Every task's output, each line prefixed with SERVICE.SLOT.TASK-ID@NODE |, from
whichever node runs it.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines to show from the end of the logs"},
			&cli.StringFlag{Name: "since", Usage: "show logs since timestamp or relative (e.g. 42m)"},
			&cli.StringFlag{Name: "until", Usage: "show logs before a timestamp or relative"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
			&cli.BoolFlag{Name: "no-task-ids", Usage: "do not include task IDs in output"},
			&cli.BoolFlag{Name: "no-resolve", Usage: "do not map IDs to names in output"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.BoolFlag{Name: "raw", Usage: "do not neatly format logs"},
		},
		Action: withServices(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client, s api.Services) error {
			o := container.LogOptions{Follow: c.Bool("follow"), Tail: -1, Stdout: true, Stderr: true, Timestamps: c.Bool("timestamps")}
			if t := c.String("tail"); t != "all" && t != "" {
				n, err := strconv.Atoi(t)
				if err != nil {
					return &ExitError{Code: 1, Err: fmt.Errorf("invalid --tail %q: give a number or all", t)}
				}
				o.Tail = n
			}
			var err error
			now := time.Now()
			if v := c.String("since"); v != "" {
				if o.Since, err = opts.Timestamp(v, now); err != nil {
					return &ExitError{Code: 1, Err: err}
				}
			}
			if v := c.String("until"); v != "" {
				if o.Until, err = opts.Timestamp(v, now); err != nil {
					return &ExitError{Code: 1, Err: err}
				}
			}
			names := map[string]string{}
			if !c.Bool("no-resolve") {
				if nodes, err := cl.Cluster().NodeList(ctx); err == nil {
					for _, n := range nodes {
						names[n.ID] = n.Hostname
					}
				}
			}
			svcNames := map[string]string{}
			lw := newLogWriter(env.Stdout, env.Stderr)
			err = s.Logs(ctx, c.Args().First(), o, func(e stypes.LogEntry) error {
				if c.Bool("raw") {
					return lw.write(e.Stream, e.Line)
				}
				prefix := ""
				if !c.Bool("no-task-ids") {
					name, ok := svcNames[e.TaskID]
					if !ok {
						if t, err := s.TaskInspect(ctx, e.TaskID); err == nil {
							name = t.ServiceName
							if t.Slot > 0 {
								name += "." + strconv.Itoa(t.Slot)
							} else {
								name += "." + t.NodeID
							}
						}
						svcNames[e.TaskID] = name
					}
					id := e.TaskID
					if !c.Bool("no-trunc") {
						id = id[:min(12, len(id))]
					}
					node := e.NodeID
					if n, ok := names[node]; ok {
						node = n
					}
					prefix = fmt.Sprintf("%s.%s@%s    | ", name, id, node)
				}
				ts := ""
				if o.Timestamps {
					ts = e.Time.Format(time.RFC3339Nano) + " "
				}
				return lw.write(e.Stream, []byte(prefix+ts), e.Line)
			})
			return errors.Join(err, lw.flush())
		}),
	}
}

// ServiceScale is `berth service scale`.
func ServiceScale(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "Scale one or multiple replicated services",
		UsageText: "berth service scale [OPTIONS] SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "exit immediately instead of waiting for the service to converge"},
		},
		Action: withServices(env, 1, -1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			var errs []error
			for _, arg := range c.Args().Slice() {
				name, n, ok := strings.Cut(arg, "=")
				replicas, err := strconv.ParseUint(n, 10, 64)
				if !ok || err != nil {
					errs = append(errs, fmt.Errorf("invalid scale specifier %q: use SERVICE=REPLICAS", arg))
					continue
				}
				if err := s.Scale(ctx, name, replicas); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(env.Stdout, "%s scaled to %d\n", name, replicas)
				if !c.Bool("detach") {
					if err := waitConverged(ctx, env, s, name, false); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return errors.Join(errs...)
		}),
	}
}

// ServiceUpdate is `berth service update`.
func ServiceUpdate(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "Update a service",
		UsageText: "berth service update [OPTIONS] SERVICE",
		Description: `Changes what the flags give; the tasks are replaced per the update config
(--update-parallelism at a time, --update-delay between batches, each new
task running and healthy before the next batch).

Examples:
   berth service update --image nginx:1.27 web
   berth service update --env-add A=1 --replicas 4 web
   berth service update --force web`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "image", Usage: "service image tag"},
			&cli.StringFlag{Name: "args", Usage: "service command args"},
			&cli.Uint64Flag{Name: "replicas", Usage: "number of tasks"},
			&cli.BoolFlag{Name: "force", Usage: "force update even if no changes require it"},
			&cli.BoolFlag{Name: "rollback", Usage: "rollback to previous specification"},
			&cli.StringSliceFlag{Name: "env-add", Usage: "add or update an environment variable"},
			&cli.StringSliceFlag{Name: "env-rm", Usage: "remove an environment variable"},
			&cli.StringSliceFlag{Name: "label-add", Usage: "add or update a service label"},
			&cli.StringSliceFlag{Name: "label-rm", Usage: "remove a label by its key"},
			&cli.StringSliceFlag{Name: "container-label-add", Usage: "add or update a container label"},
			&cli.StringSliceFlag{Name: "container-label-rm", Usage: "remove a container label by its key"},
			&cli.StringSliceFlag{Name: "constraint-add", Usage: "add or update a placement constraint"},
			&cli.StringSliceFlag{Name: "constraint-rm", Usage: "remove a constraint"},
			&cli.StringSliceFlag{Name: "publish-add", Usage: "add or update a published port"},
			&cli.StringSliceFlag{Name: "publish-rm", Usage: "remove a published port by its target port"},
			&cli.StringSliceFlag{Name: "network-add", Usage: "add a network"},
			&cli.StringSliceFlag{Name: "network-rm", Usage: "remove a network"},
		}, slices.DeleteFunc(specFlags(), func(f cli.Flag) bool {
			n := f.Names()[0]
			return n == "env" || n == "label" || n == "container-label" || n == "constraint" || n == "publish" || n == "network"
		})...),
		Action: withServices(env, 1, 1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			ref := c.Args().First()
			cur, err := s.Inspect(ctx, ref)
			if err != nil {
				return err
			}
			if c.Bool("rollback") {
				if _, err := s.Update(ctx, cur.ID, cur.Version.Index, stypes.ServiceSpec{}, stypes.UpdateOptions{Rollback: true}); err != nil {
					return err
				}
				fmt.Fprintln(env.Stdout, ref)
				if c.Bool("detach") {
					return nil
				}
				return waitConverged(ctx, env, s, cur.ID, c.Bool("quiet"))
			}
			spec := cur.Spec
			if spec.TaskTemplate.ContainerSpec == nil {
				spec.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{}
			}
			cs := *spec.TaskTemplate.ContainerSpec
			spec.TaskTemplate.ContainerSpec = &cs
			if err := applyUpdateFlags(c, env, &spec); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			w, err := s.Update(ctx, cur.ID, cur.Version.Index, spec, stypes.UpdateOptions{})
			if err != nil {
				return err
			}
			for _, m := range w {
				fmt.Fprintln(env.Stderr, m)
			}
			fmt.Fprintln(env.Stdout, ref)
			if c.Bool("detach") {
				return nil
			}
			return waitConverged(ctx, env, s, cur.ID, c.Bool("quiet"))
		}),
	}
}

func applyUpdateFlags(c *cli.Context, env *Env, spec *stypes.ServiceSpec) error {
	cs := spec.TaskTemplate.ContainerSpec
	if c.IsSet("image") {
		cs.Image = c.String("image")
	}
	if c.IsSet("args") {
		cs.Args = strings.Fields(c.String("args"))
	}
	if c.IsSet("replicas") {
		if spec.Mode.Replicated == nil {
			return errors.New("--replicas can only be used with replicated mode")
		}
		spec.Mode.Replicated = &stypes.ReplicatedService{Replicas: c.Uint64("replicas")}
	}
	if c.Bool("force") {
		spec.TaskTemplate.ForceUpdate++
	}
	if c.IsSet("env-add") || c.IsSet("env-rm") {
		add, err := opts.Env(c.StringSlice("env-add"), env.lookupEnv)
		if err != nil {
			return err
		}
		cs.Env = mergeKV(cs.Env, add, c.StringSlice("env-rm"))
	}
	if c.IsSet("label-add") || c.IsSet("label-rm") {
		spec.Labels = mergeMap(spec.Labels, c.StringSlice("label-add"), c.StringSlice("label-rm"))
	}
	if c.IsSet("container-label-add") || c.IsSet("container-label-rm") {
		cs.Labels = mergeMap(cs.Labels, c.StringSlice("container-label-add"), c.StringSlice("container-label-rm"))
	}
	if c.IsSet("constraint-add") || c.IsSet("constraint-rm") {
		if spec.TaskTemplate.Placement == nil {
			spec.TaskTemplate.Placement = &stypes.Placement{}
		}
		pl := *spec.TaskTemplate.Placement
		pl.Constraints = slices.DeleteFunc(slices.Clone(pl.Constraints), func(s string) bool { return slices.Contains(c.StringSlice("constraint-rm"), s) })
		pl.Constraints = append(pl.Constraints, c.StringSlice("constraint-add")...)
		spec.TaskTemplate.Placement = &pl
	}
	if c.IsSet("publish-add") || c.IsSet("publish-rm") {
		es := stypes.EndpointSpec{}
		if spec.EndpointSpec != nil {
			es = *spec.EndpointSpec
		}
		add, err := parsePublish(c.StringSlice("publish-add"))
		if err != nil {
			return err
		}
		rm := c.StringSlice("publish-rm")
		es.Ports = slices.DeleteFunc(slices.Clone(es.Ports), func(p stypes.PortConfig) bool {
			for _, r := range rm {
				t, _, _ := strings.Cut(r, "/")
				if strings.Contains(t, ":") {
					_, t, _ = strings.Cut(t, ":")
				}
				if t == strconv.Itoa(int(p.TargetPort)) {
					return true
				}
			}
			for _, a := range add {
				if a.TargetPort == p.TargetPort {
					return true
				}
			}
			return false
		})
		es.Ports = append(es.Ports, add...)
		spec.EndpointSpec = &es
	}
	if c.IsSet("network-add") || c.IsSet("network-rm") {
		nets := slices.DeleteFunc(slices.Clone(spec.TaskTemplate.Networks), func(n stypes.NetworkAttachmentConfig) bool {
			return slices.Contains(c.StringSlice("network-rm"), n.Target)
		})
		for _, n := range c.StringSlice("network-add") {
			nets = append(nets, stypes.NetworkAttachmentConfig{Target: n})
		}
		spec.TaskTemplate.Networks = nets
	}
	// Copy what the shared flags change before they write into it.
	if spec.TaskTemplate.Placement != nil {
		p := *spec.TaskTemplate.Placement
		spec.TaskTemplate.Placement = &p
	}
	if spec.TaskTemplate.RestartPolicy != nil {
		r := *spec.TaskTemplate.RestartPolicy
		spec.TaskTemplate.RestartPolicy = &r
	}
	if spec.TaskTemplate.Resources != nil {
		r := *spec.TaskTemplate.Resources
		spec.TaskTemplate.Resources = &r
	}
	if spec.UpdateConfig != nil {
		u := *spec.UpdateConfig
		spec.UpdateConfig = &u
	}
	if spec.RollbackConfig != nil {
		u := *spec.RollbackConfig
		spec.RollbackConfig = &u
	}
	if spec.EndpointSpec != nil {
		e := *spec.EndpointSpec
		spec.EndpointSpec = &e
	}
	return applySpecFlags(c, env, spec, false)
}

// mergeKV applies -add (KEY=VALUE, replacing the same KEY) and -rm (KEY)
// to KEY=VALUE entries.
func mergeKV(list, add, rm []string) []string {
	out := slices.DeleteFunc(slices.Clone(list), func(e string) bool {
		k, _, _ := strings.Cut(e, "=")
		if slices.Contains(rm, k) {
			return true
		}
		for _, a := range add {
			ak, _, _ := strings.Cut(a, "=")
			if ak == k {
				return true
			}
		}
		return false
	})
	return append(out, add...)
}

func mergeMap(m map[string]string, add, rm []string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range rm {
		delete(out, k)
	}
	for _, a := range add {
		k, v, _ := strings.Cut(a, "=")
		out[k] = v
	}
	return out
}

// ServiceRollback is `berth service rollback`.
func ServiceRollback(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "Revert changes to a service's configuration",
		UsageText: "berth service rollback [OPTIONS] SERVICE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "exit immediately instead of waiting for the service to converge"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress progress output"},
		},
		Action: withServices(env, 1, 1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			ref := c.Args().First()
			if err := s.Rollback(ctx, ref); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, ref)
			if c.Bool("detach") {
				return nil
			}
			return waitConverged(ctx, env, s, ref, c.Bool("quiet"))
		}),
	}
}

// ServiceRm is `berth service rm`.
func ServiceRm(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "Remove one or more services",
		UsageText: "berth service rm SERVICE [SERVICE...]",
		Action: withServices(env, 1, -1, func(ctx context.Context, c *cli.Context, _ Client, s api.Services) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return s.Remove(ctx, n) })
		}),
	}
}
