package compose

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
)

func stdinIsTTY(a *app) bool {
	f, ok := a.env.Stdin.(*os.File)
	return ok && isTerminal(f)
}

// serviceContainer is the index-th (1-based) running container of svc.
func (a *app) serviceContainer(ctx context.Context, p *types.Project, svc string, index int, running bool) (container.Summary, error) {
	list, err := a.containers(ctx, p.Name, false, svc)
	if err != nil {
		return container.Summary{}, err
	}
	for _, c := range list {
		if running && c.State != container.StatusRunning {
			continue
		}
		if index == 0 || number(c) == index {
			return c, nil
		}
	}
	if _, err := p.GetService(svc); err != nil && len(p.Services) > 0 {
		return container.Summary{}, usage("no such service: %s", svc)
	}
	if running {
		return container.Summary{}, fmt.Errorf("service %q is not running", svc)
	}
	return container.Summary{}, fmt.Errorf("no container found for service %q", svc)
}

func (a *app) cmdExec() *cli.Command {
	return &cli.Command{
		Name: "exec", Usage: "execute a command in a running container", ArgsUsage: "SERVICE COMMAND [ARGS...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detached mode: run command in the background"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set environment variables"},
			&cli.IntFlag{Name: "index", Usage: "index of the container if the service has multiple replicas"},
			&cli.BoolFlag{Name: "no-TTY", Aliases: []string{"T"}, Usage: "disable pseudo-TTY allocation (default: a TTY when stdin is one)"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Value: true, Usage: "keep STDIN open even if not attached"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run the command as this user"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "path to workdir directory for this command"},
			&cli.BoolFlag{Name: "privileged", Usage: "not supported by berth exec", Hidden: true},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usage("exec requires a service and a command: berth compose exec SERVICE COMMAND [ARGS...]")
			}
			if c.Bool("privileged") {
				return usage("exec --privileged is not supported by berth")
			}
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			ct, err := a.serviceContainer(c.Context, p, c.Args().First(), c.Int("index"), true)
			if err != nil {
				return err
			}
			args := []string{"exec"}
			tty := stdinIsTTY(a) && !c.Bool("no-TTY")
			if c.IsSet("tty") {
				tty = c.Bool("tty")
			}
			if c.Bool("detach") {
				args = append(args, "-d")
			} else {
				if c.Bool("interactive") {
					args = append(args, "-i")
				}
				if tty {
					args = append(args, "-t")
				}
			}
			for _, e := range c.StringSlice("env") {
				args = append(args, "-e", e)
			}
			if u := c.String("user"); u != "" {
				args = append(args, "-u", u)
			}
			if w := c.String("workdir"); w != "" {
				args = append(args, "-w", w)
			}
			args = append(args, ct.ID)
			args = append(args, c.Args().Tail()...)
			return exitCodeErr(a.berth(c.Context, nil, args...))
		},
	}
}

func (a *app) cmdRun() *cli.Command {
	return &cli.Command{
		Name: "run", Usage: "run a one-off command on a service", ArgsUsage: "SERVICE [COMMAND] [ARGS...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run container in background and print container ID"},
			&cli.BoolFlag{Name: "rm", Usage: "automatically remove the container when it exits"},
			&cli.StringFlag{Name: "name", Usage: "assign a name to the container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set environment variables"},
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "add or override a label"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as specified username or uid"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the entrypoint of the image"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a container's port(s) to the host"},
			&cli.BoolFlag{Name: "service-ports", Aliases: []string{"P"}, Usage: "run command with all service's ports enabled and mapped to the host"},
			&cli.BoolFlag{Name: "use-aliases", Usage: "use the service's network aliases in the network(s) the container connects to"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind mount a volume"},
			&cli.BoolFlag{Name: "no-deps", Usage: "don't start linked services"},
			&cli.BoolFlag{Name: "no-TTY", Aliases: []string{"T"}, Usage: "disable pseudo-TTY allocation (default: a TTY when stdin is one)"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Value: true, Usage: "keep STDIN open even if not attached"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
			&cli.BoolFlag{Name: "remove-orphans", Usage: "remove containers for services not defined in the compose file"},
			&cli.StringFlag{Name: "pull", Value: "policy", Usage: "pull image before running: always, missing, never, policy"},
			&cli.BoolFlag{Name: "quiet-pull", Usage: "pull without printing progress"},
			&cli.BoolFlag{Name: "build", Usage: "build image before starting container"},
			&cli.StringSliceFlag{Name: "cap-add", Usage: "add Linux capabilities"},
			&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop Linux capabilities"},
		},
		Action: func(c *cli.Context) error { return a.run(c) },
	}
}

func (a *app) run(c *cli.Context) error {
	ctx := c.Context
	if c.NArg() < 1 {
		return usage("run requires a service: berth compose run SERVICE [COMMAND] [ARGS...]")
	}
	svc := c.Args().First()
	p, err := a.load(ctx, svc)
	if err != nil {
		return err
	}
	s, err := p.GetService(svc)
	if err != nil {
		return usage("no such service: %s", svc)
	}
	// The dependencies first (as up -d would start them), unless --no-deps.
	if deps := s.GetDependencies(); len(deps) > 0 && !c.Bool("no-deps") {
		if err := a.up(ctx, upOptions{services: deps, detach: true, pull: c.String("pull"), scale: map[string]int{},
			removeOrphans: c.Bool("remove-orphans")}); err != nil {
			return err
		}
	}
	p, err = p.WithSelectedServices([]string{svc}, types.IgnoreDependencies)
	if err != nil {
		return err
	}
	if err := check(p); err != nil {
		return err
	}
	pr := a.newProgress("Running")
	if err := a.ensureImages(ctx, p, c.String("pull"), pr); err != nil {
		return err
	}
	if err := a.ensureNetworks(ctx, p, pr); err != nil {
		return err
	}
	if err := a.ensureVolumes(ctx, p, pr); err != nil {
		return err
	}
	s = p.Services[svc]
	// One-off containers: no restart policy, no published ports unless
	// asked for, no service alias unless --use-aliases, as docker compose.
	s.Restart = ""
	if s.Deploy != nil {
		d := *s.Deploy
		d.RestartPolicy = nil
		s.Deploy = &d
	}
	if !c.Bool("service-ports") {
		s.Ports = nil
	}
	for _, pub := range c.StringSlice("publish") {
		pc, err := types.ParsePortConfig(pub)
		if err != nil {
			return usage("invalid --publish %q: %v", pub, err)
		}
		s.Ports = append(s.Ports, pc...)
	}
	if c.NArg() > 1 {
		s.Command = c.Args().Tail()
	}
	if c.IsSet("entrypoint") {
		s.Entrypoint = types.ShellCommand(strings.Fields(c.String("entrypoint")))
	}
	if u := c.String("user"); u != "" {
		s.User = u
	}
	if w := c.String("workdir"); w != "" {
		s.WorkingDir = w
	}
	s.CapAdd = append(s.CapAdd, c.StringSlice("cap-add")...)
	s.CapDrop = append(s.CapDrop, c.StringSlice("cap-drop")...)
	if s.Environment == nil {
		s.Environment = types.MappingWithEquals{}
	}
	for _, e := range c.StringSlice("env") {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			val, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = val
		}
		s.Environment[k] = &v
	}
	if s.Labels == nil {
		s.Labels = types.Labels{}
	}
	for _, l := range c.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		s.Labels[k] = v
	}
	for _, v := range c.StringSlice("volume") {
		vc, err := format.ParseVolume(v)
		if err != nil {
			return usage("invalid --volume %q: %v", v, err)
		}
		s.Volumes = append(s.Volumes, vc)
	}
	tty := stdinIsTTY(a) && !c.Bool("no-TTY")
	if c.IsSet("tty") {
		tty = c.Bool("tty")
	}
	detach := c.Bool("detach")
	s.Tty = tty
	s.StdinOpen = c.Bool("interactive") && !detach
	slugBytes := make([]byte, 32)
	_, _ = rand.Read(slugBytes)
	slug := hex.EncodeToString(slugBytes)
	cname := c.String("name")
	if cname == "" {
		cname = fmt.Sprintf("%s-%s-run-%s", p.Name, svc, slug[:12])
	}
	hash, err := serviceHash(s)
	if err != nil {
		return err
	}
	cv := &convergence{a: a, p: p, existing: map[string][]container.Summary{}, ids: map[string][]string{}}
	if list, err := a.containers(ctx, p.Name, false); err == nil {
		cv.existing = byService(list)
	}
	cfg, err := containerConfig(p, s, cname, 1, true, hash, cv.other)
	if err != nil {
		return err
	}
	cfg.Labels[labelSlug] = slug
	cfg.AutoRemove = c.Bool("rm")
	if !c.Bool("use-aliases") {
		// The one-off is reached by its name only, not as the service.
		for i := range cfg.Networks {
			cfg.Networks[i].Aliases = nil
		}
	}
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	id, warnings, err := cl.Create(ctx, cfg)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(a.env.Stderr, "WARNING: %s\n", w)
	}
	if detach {
		if err := cl.Start(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(a.env.Stdout, cname)
		return nil
	}
	args := []string{"start", "-a"}
	if s.StdinOpen {
		args = append(args, "-i")
	}
	return exitCodeErr(a.berth(ctx, nil, append(args, id)...))
}

func (a *app) cmdCp() *cli.Command {
	return &cli.Command{
		Name: "cp", Usage: "copy files/folders between a service container and the local filesystem",
		ArgsUsage: "SERVICE:SRC_PATH DEST_PATH|-  or  SRC_PATH|- SERVICE:DEST_PATH",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "index", Usage: "index of the container if the service has multiple replicas"},
			&cli.BoolFlag{Name: "all", Usage: "include containers created by the run command", Hidden: true},
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "archive mode (copy all uid/gid information)"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "always follow symbol link in SRC_PATH"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usage("cp requires exactly 2 arguments: SERVICE:SRC_PATH DEST_PATH or SRC_PATH SERVICE:DEST_PATH")
			}
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			src, dst := c.Args().Get(0), c.Args().Get(1)
			svcOf := func(arg string) (string, string, bool) {
				if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") || arg == "-" {
					return "", "", false
				}
				svc, path, ok := strings.Cut(arg, ":")
				return svc, path, ok
			}
			flags := []string{"cp"}
			if c.Bool("archive") {
				flags = append(flags, "-a")
			}
			if c.Bool("follow-link") {
				flags = append(flags, "-L")
			}
			if svc, path, ok := svcOf(src); ok {
				ct, err := a.serviceContainer(c.Context, p, svc, c.Int("index"), false)
				if err != nil {
					return err
				}
				return exitCodeErr(a.berth(c.Context, nil, append(flags, ct.ID+":"+path, dst)...))
			}
			svc, path, ok := svcOf(dst)
			if !ok {
				return usage("one of the paths must be SERVICE:PATH")
			}
			list, err := a.containers(c.Context, p.Name, false, svc)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				return fmt.Errorf("no container found for service %q", svc)
			}
			for _, ct := range list {
				if idx := c.Int("index"); idx > 0 && number(ct) != idx {
					continue
				}
				if code := a.berth(c.Context, nil, append(flags, src, ct.ID+":"+path)...); code != 0 {
					return &exitError{code: code}
				}
			}
			return nil
		},
	}
}

func (a *app) cmdTop() *cli.Command {
	return &cli.Command{
		Name: "top", Usage: "display the running processes", ArgsUsage: "[SERVICE...]",
		Action: func(c *cli.Context) error {
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			list, err := a.containers(c.Context, p.Name, false, c.Args().Slice()...)
			if err != nil {
				return err
			}
			for _, ct := range list {
				if ct.State != container.StatusRunning {
					continue
				}
				fmt.Fprintln(a.env.Stdout, name(ct))
				if code := a.berth(c.Context, nil, "top", ct.ID); code != 0 {
					return &exitError{code: code}
				}
				fmt.Fprintln(a.env.Stdout)
			}
			return nil
		},
	}
}

func (a *app) cmdPort() *cli.Command {
	return &cli.Command{
		Name: "port", Usage: "print the public port for a port binding", ArgsUsage: "SERVICE PRIVATE_PORT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "protocol", Value: "tcp", Usage: "tcp or udp"},
			&cli.IntFlag{Name: "index", Usage: "index of the container if service has multiple replicas"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usage("port requires exactly 2 arguments: SERVICE PRIVATE_PORT")
			}
			port, err := strconv.Atoi(c.Args().Get(1))
			if err != nil {
				return usage("invalid port %q", c.Args().Get(1))
			}
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			ct, err := a.serviceContainer(c.Context, p, c.Args().First(), c.Int("index"), true)
			if err != nil {
				return err
			}
			for _, b := range ct.Ports {
				proto := b.Proto
				if proto == "" {
					proto = "tcp"
				}
				if int(b.ContainerPort) == port && proto == c.String("protocol") && b.HostPort != 0 {
					ip := b.HostIP
					if ip == "" {
						ip = "0.0.0.0"
					}
					fmt.Fprintf(a.env.Stdout, "%s:%d\n", ip, b.HostPort)
					return nil
				}
			}
			return fmt.Errorf("no port %d/%s published for service %q", port, c.String("protocol"), c.Args().First())
		},
	}
}

func eventsFilter(f map[string][]string) events.Filter {
	return events.Filter{Filters: f}
}

func (a *app) cmdEvents() *cli.Command {
	return &cli.Command{
		Name: "events", Usage: "receive real time events from containers", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "output events as a stream of json objects"},
			&cli.StringFlag{Name: "since", Usage: "show all events created since timestamp"},
			&cli.StringFlag{Name: "until", Usage: "stream events until this timestamp"},
		},
		Action: func(c *cli.Context) error {
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			cl, err := a.client(c.Context)
			if err != nil {
				return err
			}
			f := eventsFilter(map[string][]string{"type": {"container"}, "label": {labelProject + "=" + p.Name}})
			now := time.Now()
			for flag, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
				if v := c.String(flag); v != "" {
					t, err := parseTime(v, now)
					if err != nil {
						return usage("invalid --%s %q: %v", flag, v, err)
					}
					*dst = t
				}
			}
			services := c.Args().Slice()
			msgs, errs := cl.Events(c.Context, f)
			for m := range msgs {
				svc := m.Actor.Attributes[labelService]
				if len(services) > 0 && !contains(services, svc) {
					continue
				}
				attrs := map[string]string{}
				for k, v := range m.Actor.Attributes {
					if !strings.HasPrefix(k, "com.docker.compose.") {
						attrs[k] = v
					}
				}
				if c.Bool("json") {
					if err := writeJSON(a.env.Stdout, map[string]any{
						"time": m.Time, "type": m.Type, "action": m.Action, "id": m.Actor.ID,
						"service": svc, "attributes": attrs,
					}); err != nil {
						return err
					}
					continue
				}
				keys := make([]string, 0, len(attrs))
				for k := range attrs {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var kv []string
				for _, k := range keys {
					kv = append(kv, k+"="+attrs[k])
				}
				fmt.Fprintf(a.env.Stdout, "%s %s %s %s (%s)\n", m.Time.Format("2006-01-02 15:04:05.000000"), m.Type, m.Action, m.Actor.ID, strings.Join(kv, ", "))
			}
			return <-errs
		},
	}
}

func (a *app) cmdWait() *cli.Command {
	return &cli.Command{
		Name: "wait", Usage: "block until the first service container stops", ArgsUsage: "SERVICE [SERVICE...]",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "down-project", Usage: "drops the project when the first container stops"}},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usage("wait requires at least one service")
			}
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			if _, err := serviceNames(p, c.Args().Slice()); err != nil {
				return err
			}
			cl, err := a.client(c.Context)
			if err != nil {
				return err
			}
			list, err := a.containers(c.Context, p.Name, false, c.Args().Slice()...)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				return fmt.Errorf("no containers for project %q", p.Name)
			}
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			type res struct{ code int }
			first := make(chan res, len(list))
			var wg sync.WaitGroup
			for _, ct := range list {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ch, err := cl.Wait(ctx, ct.ID, container.WaitNotRunning)
					if err != nil {
						return
					}
					select {
					case r := <-ch:
						fmt.Fprintln(a.env.Stdout, r.ExitCode)
						first <- res{r.ExitCode}
					case <-ctx.Done():
					}
				}()
			}
			code := 0
			if c.Bool("down-project") {
				r := <-first
				code = r.code
				cancel()
				wg.Wait()
				if err := a.down(c.Context, p, nil, false, "", false, nil); err != nil {
					return err
				}
				return exitCodeErr(code)
			}
			wg.Wait()
			close(first)
			for r := range first {
				if r.code != 0 {
					code = r.code
				}
			}
			return exitCodeErr(code)
		},
	}
}
