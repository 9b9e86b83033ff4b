package compose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/volume"
)

type upOptions struct {
	services      []string
	noStart       bool
	detach        bool
	forceRecreate bool
	noRecreate    bool
	noDeps        bool
	removeOrphans bool
	wait          bool
	waitTimeout   time.Duration
	scale         map[string]int
	abortOnExit   bool
	exitCodeFrom  string
	timeout       *time.Duration
	pull          string
	build         bool
}

func upFlags(create bool) []cli.Flag {
	f := []cli.Flag{
		&cli.BoolFlag{Name: "force-recreate", Usage: "recreate containers even if their configuration has not changed"},
		&cli.BoolFlag{Name: "no-recreate", Usage: "keep existing containers even if their configuration changed"},
		&cli.BoolFlag{Name: "remove-orphans", Usage: "remove containers of services not in the compose file"},
		&cli.StringSliceFlag{Name: "scale", Usage: "SERVICE=NUM: number of containers of a service (overrides scale and deploy.replicas)"},
		&cli.StringFlag{Name: "pull", Value: "policy", Usage: "pull images before running: always, missing, never, policy (the services' pull_policy)"},
		&cli.BoolFlag{Name: "build", Usage: "build images before starting containers"},
		&cli.BoolFlag{Name: "no-build", Usage: "do not build images, even those missing"},
		&cli.BoolFlag{Name: "quiet-pull", Usage: "pull without printing progress"},
	}
	if create {
		return f
	}
	return append(f,
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run containers in the background"},
		&cli.BoolFlag{Name: "no-deps", Usage: "do not start linked services"},
		&cli.BoolFlag{Name: "no-start", Usage: "do not start the services after creating them"},
		&cli.BoolFlag{Name: "wait", Usage: "wait for services to be running|healthy (implies --detach)"},
		&cli.IntFlag{Name: "wait-timeout", Usage: "maximum seconds to wait for the project to be running|healthy"},
		&cli.BoolFlag{Name: "abort-on-container-exit", Usage: "stop all containers if any container stops (incompatible with -d)"},
		&cli.StringFlag{Name: "exit-code-from", Usage: "return the exit code of this service's container (implies --abort-on-container-exit)"},
		&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Usage: "seconds to wait for shutdown when attached or when containers are recreated"},
		&cli.BoolFlag{Name: "no-attach", Usage: "not supported", Hidden: true},
	)
}

func parseUpOptions(c *cli.Context, create bool) (upOptions, error) {
	o := upOptions{
		services: c.Args().Slice(), forceRecreate: c.Bool("force-recreate"), noRecreate: c.Bool("no-recreate"),
		removeOrphans: c.Bool("remove-orphans"), pull: c.String("pull"), build: c.Bool("build"),
		scale: map[string]int{},
	}
	if o.forceRecreate && o.noRecreate {
		return o, usage("--force-recreate and --no-recreate are incompatible")
	}
	if o.build && c.Bool("no-build") {
		return o, usage("--build and --no-build are incompatible")
	}
	switch o.pull {
	case "always", "missing", "never", "policy", "build":
	default:
		return o, usage("invalid --pull option %q: want always, missing, never or policy", o.pull)
	}
	for _, s := range c.StringSlice("scale") {
		name, n, ok := strings.Cut(s, "=")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return o, usage("invalid --scale %q: want SERVICE=NUM", s)
		}
		o.scale[name] = v
	}
	if create {
		o.noStart, o.detach = true, true
		return o, nil
	}
	o.detach, o.noDeps, o.wait = c.Bool("detach"), c.Bool("no-deps"), c.Bool("wait")
	o.noStart = c.Bool("no-start")
	o.waitTimeout = time.Duration(c.Int("wait-timeout")) * time.Second
	o.exitCodeFrom = c.String("exit-code-from")
	o.abortOnExit = c.Bool("abort-on-container-exit") || o.exitCodeFrom != ""
	if c.IsSet("timeout") {
		t := time.Duration(c.Int("timeout")) * time.Second
		o.timeout = &t
	}
	if o.wait {
		o.detach = true
	}
	if o.detach && o.abortOnExit {
		return o, usage("--abort-on-container-exit and --detach are incompatible")
	}
	if o.noStart && (o.detach || o.abortOnExit) && c.Bool("detach") {
		return o, usage("--no-start and --detach are incompatible")
	}
	return o, nil
}

func (a *app) cmdUp() *cli.Command {
	return &cli.Command{
		Name: "up", Usage: "create and start containers", ArgsUsage: "[SERVICE...]",
		Flags: upFlags(false),
		Action: func(c *cli.Context) error {
			o, err := parseUpOptions(c, false)
			if err != nil {
				return err
			}
			return a.up(c.Context, o)
		},
	}
}

func (a *app) cmdCreate() *cli.Command {
	return &cli.Command{
		Name: "create", Usage: "create containers for services", ArgsUsage: "[SERVICE...]",
		Flags: upFlags(true),
		Action: func(c *cli.Context) error {
			o, err := parseUpOptions(c, true)
			if err != nil {
				return err
			}
			return a.up(c.Context, o)
		},
	}
}

// loadForUp loads and checks the project with the services up works on:
// those named and, unless noDeps, their dependencies.
func (a *app) loadForUp(ctx context.Context, services []string, noDeps bool) (*types.Project, error) {
	p, err := a.load(ctx, services...)
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		dep := types.IncludeDependencies
		if noDeps {
			dep = types.IgnoreDependencies
		}
		if p, err = p.WithSelectedServices(services, dep); err != nil {
			return nil, err
		}
	}
	if err := check(p); err != nil {
		return nil, err
	}
	if err := graph.CheckCycle(p); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *app) up(ctx context.Context, o upOptions) error {
	p, err := a.loadForUp(ctx, o.services, o.noDeps)
	if err != nil {
		return err
	}
	for name, n := range o.scale {
		s, err := p.GetService(name)
		if err != nil {
			return usage("no such service: %s", name)
		}
		s.SetScale(n)
		p.Services[name] = s
	}
	if o.exitCodeFrom != "" {
		if _, err := p.GetService(o.exitCodeFrom); err != nil {
			return usage("no such service: %s", o.exitCodeFrom)
		}
	}
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	if err := a.checkOwner(ctx, p); err != nil {
		return err
	}
	if o.build {
		if err := a.buildServices(ctx, p, p.ServiceNames(), buildOptions{}, a.env.Stderr); err != nil {
			return err
		}
	}
	pr := a.newProgress("Running")
	if err := a.ensureImages(ctx, p, o.pull, pr); err != nil {
		return err
	}
	if err := a.ensureNetworks(ctx, p, pr); err != nil {
		return err
	}
	if err := a.ensureVolumes(ctx, p, pr); err != nil {
		return err
	}
	existing, err := a.containers(ctx, p.Name, false)
	if err != nil {
		return err
	}
	if orph := orphans(p, existing); len(orph) > 0 {
		if o.removeOrphans {
			for _, c := range orph {
				pr.set("Container", name(c), "Removing")
				if err := cl.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
					return err
				}
				pr.set("Container", name(c), "Removed")
			}
		} else if len(o.services) == 0 {
			var names []string
			for _, c := range orph {
				names = append(names, name(c))
			}
			fmt.Fprintf(a.env.Stderr, "Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", strings.Join(names, ", "))
		}
	}
	cv := &convergence{a: a, p: p, o: o, pr: pr, existing: byService(existing), ids: map[string][]string{}, changed: map[string]bool{}}
	err = graph.InDependencyOrder(ctx, p, visitor(cv.service))
	if err != nil {
		return err
	}
	if o.noStart {
		return nil
	}
	if o.wait {
		return a.waitProject(ctx, p, cv, o.waitTimeout)
	}
	if o.detach {
		return nil
	}
	return a.attachProject(ctx, p, cv, o)
}

// checkOwner refuses a project whose name another project's files already
// use, as docker compose warns: two directories with the same name would
// otherwise manage each other's containers.
func (a *app) checkOwner(ctx context.Context, p *types.Project) error {
	list, err := a.containers(ctx, p.Name, true)
	if err != nil {
		return err
	}
	for _, c := range list {
		wd := c.Labels[labelWorkingDir]
		if wd != "" && p.WorkingDir != "" && wd != p.WorkingDir {
			return fmt.Errorf("project name %q is already used by the project in %s (container %s)\nChoose another name with -p, or bring that project down first", p.Name, wd, name(c))
		}
	}
	return nil
}

// convergence brings each service's containers to the project's
// configuration, in dependency order.
type convergence struct {
	a        *app
	p        *types.Project
	o        upOptions
	pr       *progress
	mu       sync.Mutex
	existing map[string][]container.Summary
	ids      map[string][]string // service → its containers' IDs after up
	changed  map[string]bool     // services whose containers were (re)created or restarted
	fresh    map[string]bool     // containers created or started by this up (their logs are shown whole)
}

func (cv *convergence) idsOf(svc string) []string {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.ids[svc]
}

// other resolves network_mode: service:x and volumes_from to a container
// of service x (already converged: it is a dependency).
func (cv *convergence) other(svc string) (string, error) {
	if ids := cv.idsOf(svc); len(ids) > 0 {
		return ids[0], nil
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cs := cv.existing[svc]; len(cs) > 0 {
		return cs[0].ID, nil
	}
	return "", fmt.Errorf("service %q has no container", svc)
}

func (cv *convergence) service(ctx context.Context, svc string) error {
	s, err := cv.p.GetService(svc)
	if err != nil {
		return err
	}
	cl, err := cv.a.client(ctx)
	if err != nil {
		return err
	}
	if !cv.o.noStart {
		if err := cv.waitDependencies(ctx, s); err != nil {
			return err
		}
	}
	hash, err := serviceHash(s)
	if err != nil {
		return err
	}
	want := replicas(s)
	if s.ContainerName != "" && want > 1 {
		return fmt.Errorf("service %q: container_name %q cannot be used with %d replicas: a container name must be unique", svc, s.ContainerName, want)
	}
	cv.mu.Lock()
	have := cv.existing[svc]
	cv.mu.Unlock()
	restartDeps := false
	for dep, d := range s.DependsOn {
		cv.mu.Lock()
		if d.Restart && cv.changed[dep] {
			restartDeps = true
		}
		cv.mu.Unlock()
	}
	var ids []string
	changed := false
	next := 1
	for _, c := range have {
		if n := number(c); n >= next {
			next = n + 1
		}
	}
	// Scale down: the highest numbers go first.
	for i := len(have) - 1; i >= want; i-- {
		c := have[i]
		cv.pr.set("Container", name(c), "Stopping")
		if err := cl.Stop(ctx, c.ID, container.StopOptions{Timeout: cv.o.timeout}); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		if err := cl.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		cv.pr.set("Container", name(c), "Removed")
	}
	if len(have) > want {
		have = have[:want]
	}
	for _, c := range have {
		recreate := cv.o.forceRecreate || (!cv.o.noRecreate && c.Labels[labelConfigHash] != hash)
		if recreate {
			id, err := cv.recreate(ctx, s, c, hash)
			if err != nil {
				return err
			}
			ids = append(ids, id)
			changed = true
			continue
		}
		ids = append(ids, c.ID)
		if cv.o.noStart {
			continue
		}
		switch {
		case c.State == container.StatusRunning && restartDeps:
			cv.pr.set("Container", name(c), "Restarting")
			if err := cl.Restart(ctx, c.ID, container.StopOptions{Timeout: cv.o.timeout}); err != nil {
				return err
			}
			cv.pr.set("Container", name(c), "Restarted")
			changed = true
		case c.State == container.StatusRunning || c.State == container.StatusRestarting:
			cv.pr.set("Container", name(c), "Running")
		case c.State == container.StatusPaused:
			cv.pr.set("Container", name(c), "Running")
		default:
			cv.pr.set("Container", name(c), "Starting")
			if err := cl.Start(ctx, c.ID); err != nil {
				return err
			}
			cv.markFresh(c.ID)
			cv.pr.set("Container", name(c), "Started")
			changed = true
		}
	}
	for n := len(have); n < want; n++ {
		id, err := cv.create(ctx, s, next, hash, "", !cv.o.noStart)
		if err != nil {
			return err
		}
		next++
		ids = append(ids, id)
		changed = true
	}
	cv.mu.Lock()
	cv.ids[svc] = ids
	cv.changed[svc] = changed
	cv.mu.Unlock()
	return nil
}

func (cv *convergence) markFresh(id string) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.fresh == nil {
		cv.fresh = map[string]bool{}
	}
	cv.fresh[id] = true
}

// create makes (and, with start, starts) container number n of s.
// replace names the container it replaces (com.docker.compose.replace).
func (cv *convergence) create(ctx context.Context, s types.ServiceConfig, n int, hash, replace string, start bool) (string, error) {
	cl, err := cv.a.client(ctx)
	if err != nil {
		return "", err
	}
	cname := containerName(cv.p.Name, s, n)
	cfg, err := containerConfig(cv.p, s, cname, n, false, hash, cv.other)
	if err != nil {
		return "", err
	}
	if replace != "" {
		cfg.Labels[labelReplace] = replace
	}
	if img, err := cl.Images().Inspect(ctx, cfg.Image); err == nil {
		cfg.Labels[labelImage] = img.ID
	}
	if replace == "" {
		cv.pr.set("Container", cname, "Creating")
	}
	id, warnings, err := cl.Create(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("service %q: create %s: %w", s.Name, cname, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(cv.a.env.Stderr, "WARNING: %s: %s\n", cname, w)
	}
	if replace == "" {
		cv.pr.set("Container", cname, "Created")
	}
	if !start {
		return id, nil
	}
	cv.pr.set("Container", cname, "Starting")
	if err := cl.Start(ctx, id); err != nil {
		return "", fmt.Errorf("service %q: start %s: %w", s.Name, cname, err)
	}
	cv.markFresh(id)
	cv.pr.set("Container", cname, "Started")
	return id, nil
}

// recreate replaces c with a container of the current configuration, as
// docker compose does: stop it, rename it out of the way, create the new
// one under its name, remove it, start the new one.
func (cv *convergence) recreate(ctx context.Context, s types.ServiceConfig, c container.Summary, hash string) (string, error) {
	cl, err := cv.a.client(ctx)
	if err != nil {
		return "", err
	}
	old := name(c)
	cv.pr.set("Container", old, "Recreate")
	if err := cl.Stop(ctx, c.ID, container.StopOptions{Timeout: cv.o.timeout}); err != nil && !errdefs.IsNotFound(err) {
		return "", err
	}
	tmp := c.ID[:12] + "_" + old
	if err := cl.Rename(ctx, c.ID, tmp); err != nil {
		return "", err
	}
	id, err := cv.create(ctx, s, number(c), hash, old, false)
	if err != nil {
		_ = cl.Rename(context.WithoutCancel(ctx), c.ID, old)
		return "", err
	}
	if err := cl.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
		return "", err
	}
	cv.pr.set("Container", old, "Recreated")
	if !cv.o.noStart {
		cv.pr.set("Container", old, "Starting")
		if err := cl.Start(ctx, id); err != nil {
			return "", fmt.Errorf("service %q: start %s: %w", s.Name, old, err)
		}
		cv.markFresh(id)
		cv.pr.set("Container", old, "Started")
	}
	return id, nil
}

// waitDependencies waits for s's dependencies' conditions
// (service_started, service_healthy, service_completed_successfully).
func (cv *convergence) waitDependencies(ctx context.Context, s types.ServiceConfig) error {
	deps := make([]string, 0, len(s.DependsOn))
	for d := range s.DependsOn {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	for _, dep := range deps {
		d := s.DependsOn[dep]
		if _, err := cv.p.GetService(dep); err != nil {
			if !d.Required {
				continue
			}
			if cv.o.noDeps {
				continue // --no-deps: the dependency is not managed here
			}
			return fmt.Errorf("service %q depends on undefined service %q", s.Name, dep)
		}
		if d.Condition == types.ServiceConditionStarted || d.Condition == "" {
			continue
		}
		for _, id := range cv.idsOf(dep) {
			if err := cv.a.waitCondition(ctx, id, d.Condition, cv.pr); err != nil {
				if !d.Required {
					fmt.Fprintf(cv.a.env.Stderr, "WARNING: optional dependency %q failed: %v\n", dep, err)
					continue
				}
				return fmt.Errorf("dependency failed to start: %w", err)
			}
		}
	}
	return nil
}

// conditionRunningOrHealthy is --wait's condition for services nothing
// depends on with a condition: healthy if the container has a
// healthcheck, else running.
const conditionRunningOrHealthy = "running_or_healthy"

// waitCondition waits, event-driven, for container id to meet cond.
func (a *app) waitCondition(ctx context.Context, id, cond string, pr *progress) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before looking, so no change is missed in between.
	msgs, errs := cl.Events(ctx, eventsFilter(map[string][]string{"container": {id}, "type": {"container"}}))
	announced := false
	for {
		c, err := cl.Inspect(ctx, id)
		if err != nil {
			return err
		}
		cname := strings.TrimPrefix(c.Name, "/")
		if !announced && pr != nil {
			pr.set("Container", cname, "Waiting")
			announced = true
		}
		done, err := meets(c, cname, cond)
		if err != nil {
			if pr != nil {
				pr.set("Container", cname, "Error")
			}
			return err
		}
		if done {
			if pr != nil {
				status := "Healthy"
				if cond == types.ServiceConditionCompletedSuccessfully {
					status = "Exited"
				} else if c.State.Health == nil {
					status = "Running"
				}
				pr.set("Container", cname, status)
			}
			return nil
		}
		select {
		case _, ok := <-msgs:
			if !ok {
				if err := <-errs; err != nil {
					return err
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				msgs, errs = cl.Events(ctx, eventsFilter(map[string][]string{"container": {id}, "type": {"container"}}))
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// meets tells whether c meets cond yet, and the error docker compose
// reports when it never will.
func meets(c *container.Container, cname, cond string) (bool, error) {
	st := c.State
	switch cond {
	case types.ServiceConditionCompletedSuccessfully:
		if st.Running || st.Restarting || st.Status == container.StatusCreated {
			return false, nil
		}
		if st.ExitCode != 0 {
			return false, fmt.Errorf("service %q didn't complete successfully: exit %d", c.Config.Labels[labelService], st.ExitCode)
		}
		return true, nil
	case types.ServiceConditionHealthy, conditionRunningOrHealthy:
		hc := c.Config.Healthcheck
		if st.Health == nil && (hc == nil || !hc.Enabled()) {
			if cond == types.ServiceConditionHealthy && !st.Running {
				break
			}
			if cond == types.ServiceConditionHealthy {
				return false, fmt.Errorf("container %s has no healthcheck configured", cname)
			}
			if st.Running {
				return true, nil
			}
			break
		}
		if st.Health != nil {
			switch st.Health.Status {
			case container.HealthHealthy:
				return true, nil
			case container.HealthUnhealthy:
				return false, fmt.Errorf("container %s is unhealthy", cname)
			}
		}
	}
	if st.Status == container.StatusExited || st.Status == container.StatusDead {
		return false, fmt.Errorf("container %s exited (%d)", cname, st.ExitCode)
	}
	return false, nil
}

// waitProject is up --wait: every container running, or healthy when it
// has a healthcheck (or the condition dependents ask for).
func (a *app) waitProject(ctx context.Context, p *types.Project, cv *convergence, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, svc := range p.ServiceNames() {
		cond := conditionRunningOrHealthy
		for _, other := range p.Services {
			if d, ok := other.DependsOn[svc]; ok && d.Condition != "" && d.Condition != types.ServiceConditionStarted {
				cond = d.Condition
			}
		}
		for _, id := range cv.idsOf(svc) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.waitCondition(wctx, id, cond, cv.pr); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	if errors.Is(wctx.Err(), context.DeadlineExceeded) {
		return &exitError{code: 1, err: fmt.Errorf("application not healthy after %s", timeout)}
	}
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			return &exitError{code: 1, err: fmt.Errorf("dependency failed to start: %w", err)}
		}
	}
	return errs[0]
}

// attachProject is up without -d: follow every container's output,
// prefixed, until they all exit; Ctrl-C stops the project (a second one
// kills it). With --abort-on-container-exit the first exit stops the rest.
func (a *app) attachProject(ctx context.Context, p *types.Project, cv *convergence, o upOptions) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	lp := a.newLogPrinter()
	type exit struct {
		svc, name string
		code      int
	}
	exits := make(chan exit, 64)
	var all []string
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	var wg sync.WaitGroup
	for _, svc := range p.ServiceNames() {
		s := p.Services[svc]
		for _, id := range cv.idsOf(svc) {
			all = append(all, id)
			c, err := cl.Inspect(ctx, id)
			if err != nil {
				return err
			}
			cname := shortName(p.Name, strings.TrimPrefix(c.Name, "/"))
			show := s.Attach == nil || *s.Attach
			tail := -1
			cv.mu.Lock()
			if !cv.fresh[id] {
				tail = 0
			}
			cv.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := cl.Wait(logCtx, id, container.WaitNotRunning)
				if show {
					_ = cl.Logs(logCtx, id, container.LogOptions{Follow: true, Tail: tail}, func(e container.LogEntry) error {
						lp.line(cname, e)
						return nil
					})
				}
				if err != nil {
					return
				}
				select {
				case r := <-st:
					fmt.Fprintf(a.env.Stdout, "%s exited with code %d\n", lp.prefixOnly(cname), r.ExitCode)
					exits <- exit{svc: svc, name: cname, code: r.ExitCode}
				case <-logCtx.Done():
				}
			}()
		}
	}
	stopAll := func(kill bool) {
		pr := a.newProgress("Stopping")
		var swg sync.WaitGroup
		for _, id := range all {
			swg.Add(1)
			go func() {
				defer swg.Done()
				if kill {
					_ = cl.Kill(context.WithoutCancel(ctx), id, "")
					return
				}
				c, err := cl.Inspect(ctx, id)
				if err != nil || !c.State.Running {
					return
				}
				cname := strings.TrimPrefix(c.Name, "/")
				pr.set("Container", cname, "Stopping")
				_ = cl.Stop(context.WithoutCancel(ctx), id, container.StopOptions{Timeout: o.timeout})
				pr.set("Container", cname, "Stopped")
			}()
		}
		swg.Wait()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	remaining := len(all)
	exitCode := 0
	for {
		select {
		case <-done:
			stopLogs()
			return exitCodeErr(exitCode)
		case e := <-exits:
			remaining--
			if o.exitCodeFrom != "" && e.svc == o.exitCodeFrom {
				exitCode = e.code
			}
			if o.abortOnExit {
				if o.exitCodeFrom == "" {
					exitCode = e.code
				}
				fmt.Fprintln(a.env.Stdout, "Aborting on container exit...")
				stopAll(false)
				stopLogs()
				wg.Wait()
				return exitCodeErr(exitCode)
			}
		case <-sigs:
			fmt.Fprintln(a.env.Stderr, "Gracefully stopping... (press Ctrl+C again to force)")
			stopped := make(chan struct{})
			go func() { stopAll(false); close(stopped) }()
			select {
			case <-stopped:
			case <-sigs:
				stopAll(true)
			}
			stopLogs()
			return &exitError{code: 130}
		}
	}
}

func exitCodeErr(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// ensureNetworks creates the project's networks that do not exist yet
// (named <project>_<key> unless given a name) and checks the external ones.
func (a *app) ensureNetworks(ctx context.Context, p *types.Project, pr *progress) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, s := range p.Services {
		for n := range s.Networks {
			used[n] = true
		}
	}
	keys := make([]string, 0, len(p.Networks))
	for k := range p.Networks {
		if used[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := p.Networks[k]
		existing, err := cl.Networks().Inspect(ctx, n.Name)
		if bool(n.External) {
			if err != nil {
				if errdefs.IsNotFound(err) {
					return fmt.Errorf("network %s declared as external, but could not be found", n.Name)
				}
				return err
			}
			continue
		}
		if err == nil {
			if existing.Labels[labelProject] != "" && existing.Labels[labelProject] != p.Name {
				fmt.Fprintf(a.env.Stderr, "WARNING: a network with name %s exists but was not created for project %q.\nSet `external: true` to use an existing network\n", n.Name, p.Name)
			}
			continue
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
		opts, err := networkOptions(p, k, n)
		if err != nil {
			return err
		}
		pr.set("Network", n.Name, "Creating")
		if _, err := cl.Networks().Create(ctx, opts); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("network %q: %w", k, err)
		}
		pr.set("Network", n.Name, "Created")
	}
	return nil
}

func networkOptions(p *types.Project, key string, n types.NetworkConfig) (network.CreateOptions, error) {
	bad := func(format string, args ...any) (network.CreateOptions, error) {
		return network.CreateOptions{}, fmt.Errorf("network %q: %s", key, fmt.Sprintf(format, args...))
	}
	o := network.CreateOptions{Name: n.Name, Driver: n.Driver, Internal: n.Internal, Options: map[string]string(n.DriverOpts)}
	if o.Driver == "" {
		o.Driver = network.DriverBridge
	}
	if o.Driver != network.DriverBridge && o.Driver != network.DriverMacvlan {
		return bad("driver %q is not supported (bridge or macvlan)", n.Driver)
	}
	if n.EnableIPv6 != nil && *n.EnableIPv6 {
		return bad("enable_ipv6 is not supported (berth networks are IPv4)")
	}
	if n.EnableIPv4 != nil && !*n.EnableIPv4 {
		return bad("enable_ipv4: false is not supported (berth networks are IPv4)")
	}
	if n.Ipam.Driver != "" && n.Ipam.Driver != "default" {
		return bad("ipam.driver %q is not supported (default)", n.Ipam.Driver)
	}
	if len(n.Ipam.Config) > 1 {
		return bad("ipam.config: one subnet only")
	}
	if len(n.Ipam.Options) > 0 {
		o.IPAMOptions = map[string]string(n.Ipam.Options)
	}
	for _, c := range n.Ipam.Config {
		var err error
		if c.Subnet != "" {
			if o.Subnet, err = netip.ParsePrefix(c.Subnet); err != nil {
				return bad("ipam.config.subnet: %v", err)
			}
		}
		if c.Gateway != "" {
			if o.Gateway, err = netip.ParseAddr(c.Gateway); err != nil {
				return bad("ipam.config.gateway: %v", err)
			}
		}
		if c.IPRange != "" {
			if o.IPRange, err = netip.ParsePrefix(c.IPRange); err != nil {
				return bad("ipam.config.ip_range: %v", err)
			}
		}
		for h, ip := range c.AuxiliaryAddresses {
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				return bad("ipam.config.aux_addresses: %v", err)
			}
			if o.AuxAddresses == nil {
				o.AuxAddresses = map[string]netip.Addr{}
			}
			o.AuxAddresses[h] = addr
		}
	}
	o.Labels = map[string]string{}
	for k, v := range n.Labels {
		o.Labels[k] = v
	}
	o.Labels[labelProject] = p.Name
	o.Labels[labelNetwork] = key
	o.Labels[labelVersion] = composeVersion
	return o, nil
}

// ensureVolumes creates the project's named volumes that do not exist yet
// and checks the external ones.
func (a *app) ensureVolumes(ctx context.Context, p *types.Project, pr *progress) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(p.Volumes))
	for k := range p.Volumes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p.Volumes[k]
		existing, err := cl.Volumes().Inspect(ctx, v.Name)
		if bool(v.External) {
			if err != nil {
				if errdefs.IsNotFound(err) {
					return fmt.Errorf("external volume %q not found", v.Name)
				}
				return err
			}
			continue
		}
		if err == nil {
			if existing.Labels[labelProject] != "" && existing.Labels[labelProject] != p.Name {
				fmt.Fprintf(a.env.Stderr, "WARNING: volume %q already exists but was not created for project %q. Use `external: true` to use an existing volume\n", v.Name, p.Name)
			}
			continue
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
		if v.Driver != "" && v.Driver != volume.DriverLocal {
			return fmt.Errorf("volume %q: driver %q is not supported (local)", k, v.Driver)
		}
		labels := map[string]string{}
		for lk, lv := range v.Labels {
			labels[lk] = lv
		}
		labels[labelProject] = p.Name
		labels[labelVolume] = k
		labels[labelVersion] = composeVersion
		pr.set("Volume", v.Name, "Creating")
		if _, err := cl.Volumes().Create(ctx, volume.CreateOptions{Name: v.Name, Driver: volume.DriverLocal,
			Labels: labels, Options: map[string]string(v.DriverOpts)}); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("volume %q: %w", k, err)
		}
		pr.set("Volume", v.Name, "Created")
	}
	return nil
}
