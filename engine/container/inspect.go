package container

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/filters"
)

// Inspect returns the full view of a container.
func (s *Service) Inspect(ctx context.Context, ref string) (*containertypes.Container, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	ctx = s.ctx(ctx)
	v := r.view()
	e, err := s.viewed(ctx, r.id)
	if err != nil {
		return nil, err
	}
	if e.gone {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	c, proc := e.c, e.proc
	v.restarting = v.restarting || r.is(phaseRestarting) // see recordView
	// The config is decoded again (tens of µs): the caller owns it.
	cfg, err := configOf(c)
	if err != nil {
		return nil, err
	}
	out := &containertypes.Container{
		ID:          c.ID,
		Name:        "/" + cfg.Name,
		Created:     c.CreatedAt,
		ImageName:   cfg.Image,
		LogPath:     s.logPath(c.ID),
		Runtime:     c.Runtime.Name,
		Snapshotter: c.Snapshotter,
		Config:      *cfg,
		State:       s.state(v, c, proc, cfg.RestartPolicy),
	}
	out.Config.Links = s.showLinks(cfg, c.ID)
	if proc != nil && proc.Status == tasktypes.Status_STOPPED && proc.ExitStatus == 137 && !out.State.OOMKilled {
		// Stopped, its exit and OOM events not handled yet: the cgroup,
		// there until the task is deleted, tells.
		out.State.OOMKilled = cgroupOOMKilled(c)
	}
	r.mu.Lock()
	out.RestartCount = r.restartCount
	r.mu.Unlock()
	if cfg.Healthcheck.Enabled() {
		out.State.Health = r.healthView()
		if out.State.Health == nil && out.State.Running {
			// berthd restarted and has not resumed the probes yet.
			out.State.Health = &containertypes.Health{Status: recordedHealth(c), Log: []containertypes.HealthcheckResult{}}
		}
	}
	dir := s.containerDir(c.ID)
	out.HostnamePath, out.HostsPath, out.ResolvConfPath = dir+"/hostname", dir+"/hosts", dir+"/resolv.conf"
	if out.State.Running {
		out.NetworkSettings = s.networkSettings(ctx, c.ID)
	} else {
		out.NetworkSettings.Networks = map[string]containertypes.EndpointSettings{}
	}
	out.Image = c.Labels[labelImageID]
	if info := e.info; info != nil {
		out.Mounts = slices.Clone(info.mounts)
		out.Path, out.Args = info.path, slices.Clone(info.args)
		out.Env, out.WorkingDir = slices.Clone(info.env), info.cwd
	}
	if len(cfg.Links) > 0 {
		// A link's variables are the run's, not the container's
		// configuration: dockerd's inspect does not show them either.
		if full, err := s.containerStore().Get(ctx, c.ID); err == nil && full.Spec != nil {
			sp, err := specOf(full)
			if err != nil {
				return nil, err
			}
			link := linkEnvOf(sp)
			out.Env = slices.DeleteFunc(out.Env, func(e string) bool { return slices.Contains(link, e) })
		}
	}
	return out, nil
}

// recordView is what a record knows of the container's run. It is read
// before the container's labels: the record stops answering for an exit
// (pendingExit nil) only once the labels hold it, so of a view taken first and
// labels read after, one is always current. restarting is read again after
// the labels: an exit that the labels hold may be one the restart policy
// restarts, which must not read exited.
type recordView struct {
	restarting bool
	exited     bool
	exitCode   int
	finishedAt time.Time // of that exit
	startedAt  time.Time
	oom        bool // the OOM killer struck the current run
	// awaitsExit: the exit of its task, if it stopped, is not handled yet
	// (running, or restarting: a task the policy started may stop before
	// the record reads running); restarts is the policy's count so far.
	awaitsExit bool
	restarts   int
}

func (r *record) view() recordView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := recordView{restarting: r.phase == phaseRestarting, startedAt: r.startedAt, oom: r.oom,
		awaitsExit: r.phase == phaseRunning || r.phase == phaseRestarting, restarts: r.restartCount}
	// A container that never ran here shows no exit (that of a task
	// whose start was cut off, deleted by the reconciliation).
	if r.pendingExit != nil && r.phase != phaseCreated {
		v.exited, v.exitCode, v.finishedAt = true, r.pendingExit.ExitCode, r.pendingExit.ExitedAt
	}
	return v
}

// state derives Docker's State from the container's labels, its task and the
// in-memory record's view (taken before the labels were read). policy is
// the container's restart policy.
func (s *Service) state(v recordView, c containers.Container, proc *tasktypes.Process, policy containertypes.RestartPolicy) containertypes.State {
	st := containertypes.State{
		ExitCode:   atoiLabel(c.Labels[labelExitCode]),
		OOMKilled:  c.Labels[labelOOMKilled] == "true" || v.oom,
		Error:      c.Labels[labelError],
		StartedAt:  timeLabel(c.Labels[labelStartedAt]),
		FinishedAt: timeLabel(c.Labels[labelFinishedAt]),
		Status:     containertypes.StatusCreated,
	}
	restarting := v.restarting
	exited, exitCode := v.exited, v.exitCode
	if exited && !v.finishedAt.IsZero() {
		// The labels may not hold this exit yet: its time is the record's.
		st.FinishedAt = v.finishedAt
	}
	if !v.startedAt.IsZero() {
		st.StartedAt = v.startedAt
	}
	if proc != nil {
		switch proc.Status {
		case tasktypes.Status_RUNNING, tasktypes.Status_CREATED:
			st.Status, st.Running, st.Pid = containertypes.StatusRunning, true, int(proc.Pid)
			st.ExitCode = 0
		case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			st.Status, st.Running, st.Paused, st.Pid = containertypes.StatusPaused, true, true, int(proc.Pid)
			st.ExitCode = 0
		case tasktypes.Status_STOPPED:
			// A task being deleted may report a zeroed status: the exit
			// event's is the one to trust.
			st.Status = containertypes.StatusExited
			st.ExitCode = int(proc.ExitStatus)
			if exited {
				st.ExitCode = exitCode
			}
		}
		return policyRestarts(st, v, c, policy)
	}
	switch {
	case restarting:
		st.Status, st.Restarting = containertypes.StatusRestarting, true
	case exited:
		st.Status, st.ExitCode = containertypes.StatusExited, exitCode
	case !st.FinishedAt.IsZero():
		st.Status = containertypes.StatusExited
	}
	return policyRestarts(st, v, c, policy)
}

// policyRestarts turns an exited state whose exit is not handled yet (its
// task stopped, or is being deleted, while the record reads running or
// restarting) into restarting when the restart policy will restart it.
// dockerd's container reads running until its exit is handled, then
// restarting: never exited between an exit and its restart.
func policyRestarts(st containertypes.State, v recordView, c containers.Container, policy containertypes.RestartPolicy) containertypes.State {
	if st.Status == containertypes.StatusExited && v.awaitsExit &&
		shouldRestart(policy, st.ExitCode, c.Labels[labelStoppedByUser] == "true", v.restarts) {
		st.Status, st.Restarting = containertypes.StatusRestarting, true
	}
	return st
}

// List returns the containers selected by opts, newest first.
func (s *Service) List(ctx context.Context, opts containertypes.ListOptions) ([]containertypes.Summary, error) {
	ctx = s.ctx(ctx)
	views := map[string]recordView{} // before the labels, see recordView
	for _, r := range s.allRecords() {
		views[r.id] = r.view()
	}
	list, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	f, err := parseListFilters(opts.Filters)
	if err != nil {
		return nil, err
	}
	var out []containertypes.Summary
	for _, lc := range list {
		c, info := lc.c, lc.info
		r := s.recordByID(c.ID)
		if r == nil || info == nil {
			continue
		}
		cfg := info.cfg
		v := views[c.ID]
		v.restarting = v.restarting || r.is(phaseRestarting) // see recordView
		st := s.state(v, c, lc.proc, cfg.RestartPolicy)
		sum := containertypes.Summary{
			ID:          c.ID,
			Names:       append([]string{"/" + cfg.Name}, s.linkNames(c.ID)...),
			Image:       cfg.Image,
			ImageID:     c.Labels[labelImageID],
			Command:     info.command,
			Created:     c.CreatedAt,
			State:       st.Status,
			Status:      humanStatus(st, time.Now()),
			Labels:      maps.Clone(cfg.Labels),
			Annotations: maps.Clone(cfg.Annotations),
			ExitCode:    st.ExitCode,
			StartedAt:   st.StartedAt,
			FinishedAt:  st.FinishedAt,
			Networks:    []string{s.networkMode(cfg)},
		}
		if cfg.Healthcheck.Enabled() {
			sum.Health = r.healthStatus()
			if sum.Health == "" && st.Running {
				sum.Health = recordedHealth(c)
			}
			if st.Status == containertypes.StatusRunning && sum.Health != "" {
				sum.Status += " (" + containertypes.HealthStatusText(sum.Health) + ")"
			}
		}
		sum.Mounts = slices.Clone(info.mounts)
		if st.Running {
			ns := s.networkSettings(ctx, c.ID)
			sum.Endpoints = ns.Networks
			if len(cfg.PortBindings) > 0 || cfg.PublishAllPorts {
				sum.Ports = ns.Ports
			}
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if !opts.All && opts.Limit == 0 && !f.hasStatus {
		kept := out[:0]
		for _, sum := range out {
			if sum.State == containertypes.StatusRunning || sum.State == containertypes.StatusPaused || sum.State == containertypes.StatusRestarting {
				kept = append(kept, sum)
			}
		}
		out = kept
	}
	out, err = f.apply(out)
	if err != nil {
		return nil, err
	}
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	if opts.Size {
		for i := range out {
			// A container being removed meanwhile has no size: leave 0s.
			out[i].SizeRw, out[i].SizeRootFs, _ = s.sizes(ctx, out[i].ID)
		}
	}
	return out, nil
}

// listedInfo is what List and Inspect decode from a container's record.
type listedInfo struct {
	updated time.Time
	cfg     *containertypes.Config // read only: shared by every List
	command string
	mounts  []containertypes.MountPoint
	// The OCI spec's process (read only).
	path      string
	args, env []string
	cwd       string
}

// listedInfoOf decodes c's config, command and mounts, or takes them from
// the cache when c has not changed since (a ps of 50 containers decoded 50
// OCI specs and configs each time: half its time).
func (s *Service) listedInfoOf(c containers.Container) (*listedInfo, error) {
	if v, ok := s.listed.Load(c.ID); ok {
		if e := v.(*listedInfo); e.updated.Equal(c.UpdatedAt) && !c.UpdatedAt.IsZero() {
			return e, nil
		}
	}
	cfg, err := configOf(c)
	if err != nil {
		return nil, err
	}
	e := &listedInfo{updated: c.UpdatedAt, cfg: cfg, mounts: mountPoints(c)}
	if p := processOf(c); p != nil {
		e.command = strings.Join(p.Args, " ")
		if len(p.Args) > 0 {
			e.path, e.args = p.Args[0], p.Args[1:]
		}
		e.env, e.cwd = p.Env, p.Cwd
	}
	s.listed.Store(c.ID, e)
	return e, nil
}

// processOf is the process of c's OCI spec, nil if it has none.
func processOf(c containers.Container) *specs.Process {
	if c.Spec == nil {
		return nil
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return nil
	}
	spec, ok := v.(*oci.Spec)
	if !ok {
		return nil
	}
	return spec.Process
}

// humanStatus is Docker's STATUS column.
func humanStatus(st containertypes.State, now time.Time) string {
	switch st.Status {
	case containertypes.StatusRunning:
		return "Up " + humanDuration(now.Sub(st.StartedAt))
	case containertypes.StatusPaused:
		return "Up " + humanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case containertypes.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	case containertypes.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	}
	return "Created"
}

// humanDuration is Docker's units.HumanDuration.
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}

// listFilter is `ps --filter`.
type listFilter struct {
	f         map[string][]string
	hasStatus bool
}

func parseListFilters(f map[string][]string) (listFilter, error) {
	for k := range f {
		switch k {
		case "id", "name", "label", "label!", "status", "exited", "ancestor", "before", "since", "health":
		default:
			return listFilter{}, fmt.Errorf("invalid filter %q: use id, name, label, label!, status, exited, ancestor, before, since or health: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range f["health"] {
		switch v {
		case containertypes.HealthStarting, containertypes.HealthHealthy, containertypes.HealthUnhealthy, containertypes.HealthNone:
		default:
			return listFilter{}, fmt.Errorf("invalid filter 'health=%s': use starting, healthy, unhealthy or none: %w", v, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range f["status"] {
		switch v {
		case containertypes.StatusCreated, containertypes.StatusRunning, containertypes.StatusPaused, containertypes.StatusRestarting, containertypes.StatusExited, containertypes.StatusDead, "removing":
		default:
			return listFilter{}, fmt.Errorf("invalid filter 'status=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	_, hasStatus := f["status"]
	_, hasExited := f["exited"]
	return listFilter{f: f, hasStatus: hasStatus || hasExited}, nil
}

func (lf listFilter) apply(in []containertypes.Summary) ([]containertypes.Summary, error) {
	if len(lf.f) == 0 {
		return in, nil
	}
	// before/since are positions in the creation order.
	created := func(ref string) (time.Time, error) {
		for _, s := range in {
			if strings.HasPrefix(s.ID, ref) || s.Names[0] == "/"+ref {
				return s.Created, nil
			}
		}
		return time.Time{}, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	var before, since time.Time
	for _, v := range lf.f["before"] {
		t, err := created(v)
		if err != nil {
			return nil, err
		}
		before = t
	}
	for _, v := range lf.f["since"] {
		t, err := created(v)
		if err != nil {
			return nil, err
		}
		since = t
	}
	var out []containertypes.Summary
	for _, s := range in {
		if !before.IsZero() && !s.Created.Before(before) {
			continue
		}
		if !since.IsZero() && !s.Created.After(since) {
			continue
		}
		if lf.match(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (lf listFilter) match(s containertypes.Summary) bool {
	anyOf := func(key string, pred func(string) bool) bool {
		values, ok := lf.f[key]
		if !ok || len(values) == 0 {
			return true
		}
		for _, v := range values {
			if pred(v) {
				return true
			}
		}
		return false
	}
	return anyOf("id", func(v string) bool { return strings.HasPrefix(s.ID, v) }) &&
		anyOf("name", func(v string) bool {
			name := strings.TrimPrefix(s.Names[0], "/")
			ok, _ := path.Match(v, name)
			return ok || strings.Contains(name, v)
		}) &&
		// Label filters are all required, as Docker's: compose finds a
		// service's containers by project, service and oneoff together.
		filters.Labels(s.Labels, lf.f["label"], lf.f["label!"]) &&
		anyOf("status", func(v string) bool { return s.State == v }) &&
		anyOf("exited", func(v string) bool { return s.State == containertypes.StatusExited && itoa(s.ExitCode) == v }) &&
		anyOf("health", func(v string) bool {
			if v == containertypes.HealthNone {
				return s.Health == ""
			}
			return s.Health == v
		}) &&
		anyOf("ancestor", func(v string) bool {
			return s.Image == v || strings.TrimSuffix(s.Image, ":latest") == strings.TrimSuffix(v, ":latest")
		})
}

// UsingImage returns the IDs of the containers created from the image with
// the given ID (config digest) or that mount it (--mount type=image). The
// image service asks it before removing an image.
func (s *Service) UsingImage(ctx context.Context, imageID string) ([]string, error) {
	list, err := s.containerStore().List(s.ctx(ctx), `labels."`+labelImageID+`"==`+strconv.Quote(imageID),
		`labels."`+labelImageMountPrefix+imageID+`"`)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}
