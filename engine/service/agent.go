package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Docker's labels of a task's container.
const (
	LabelServiceID   = "com.docker.swarm.service.id"
	LabelServiceName = "com.docker.swarm.service.name"
	LabelTask        = "com.docker.swarm.task"
	LabelTaskID      = "com.docker.swarm.task.id"
	LabelTaskName    = "com.docker.swarm.task.name"
	LabelNodeID      = "com.docker.swarm.node.id"
)

// Engine is what the agent needs of the engine on its node: the
// container and image services and the event bus.
type Engine struct {
	Containers api.Containers
	Images     interface {
		Inspect(ctx context.Context, ref string) (*image.Image, error)
		Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error)
	}
	// Subscribe follows the engine's events (containers' die and
	// health_status).
	Subscribe func(ctx context.Context, f events.Filter) (<-chan events.Message, error)
}

// agent runs the tasks assigned to this node.
type agent struct {
	s     *Service
	st    *cluster.Store
	r     records
	eng   Engine
	self  string
	host  string
	mu    sync.Mutex
	work  map[string]*taskWorker // by task ID
	ctrs  map[string]string      // container ID → task ID, of this node's tasks
	pulls sync.Mutex
}

type taskWorker struct {
	t       *stypes.Task
	pending bool
	deleted bool
}

// ContainerName is the name of a task's container (Docker's
// SERVICE.SLOT.TASK-ID, or SERVICE.NODE-ID.TASK-ID for a global one).
func ContainerName(t *stypes.Task) string {
	return TaskName(t) + "." + t.ID
}

// IsTaskContainer reports whether id is the container of a task of this
// node (so the overlay lets it on networks that are not attachable).
func (s *Service) IsTaskContainer(id string) bool {
	s.mu.Lock()
	a := s.agent
	s.mu.Unlock()
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.ctrs[id]
	return ok
}

func (s *Service) runAgent(ctx context.Context, st *cluster.Store) {
	a := &agent{s: s, st: st, r: records{c: st.Client}, eng: s.opts.Engine, self: st.NodeID,
		work: map[string]*taskWorker{}, ctrs: map[string]string{}}
	if n, err := st.Node(ctx, st.NodeID); err == nil && n != nil {
		a.host = n.Hostname
	}
	s.mu.Lock()
	s.agent = a
	s.mu.Unlock()
	go a.followEvents(ctx)
	for ctx.Err() == nil {
		if err := a.session(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("service agent", "err", err)
		}
		sleepCtx(ctx, time.Second)
	}
}

// session reads every task once, removes containers of tasks that are
// gone, hands this node's tasks to their workers, then follows changes.
func (a *agent) session(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, storeTimeout)
	resp, err := a.r.c.Get(gctx, cluster.PrefixTasks, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	var mine []*stypes.Task
	for _, kv := range resp.Kvs {
		t, err := decodeTask(kv.Value, kv.ModRevision)
		if err != nil {
			continue
		}
		exists[t.ID] = true
		if t.NodeID == a.self {
			mine = append(mine, t)
		}
	}
	a.gc(ctx, exists)
	for _, t := range mine {
		a.kick(ctx, t)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := a.r.c.Watch(clientv3.WithRequireLeader(wctx), cluster.PrefixTasks, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV())
	// The services' records, for the service events on this node's bus
	// (the task records' changes make events too, from the watch above).
	var sch clientv3.WatchChan
	if a.s.opts.Publish != nil {
		sch = a.r.c.Watch(clientv3.WithRequireLeader(wctx), cluster.PrefixServices, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV())
	}
	resync := time.NewTicker(30 * time.Second)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
			return nil
		case wr, ok := <-sch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			for _, ev := range wr.Events {
				a.serviceEvent(ev)
			}
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			for _, ev := range wr.Events {
				a.taskEvent(ev)
				if ev.Type == clientv3.EventTypeDelete {
					if ev.PrevKv != nil {
						if t, err := decodeTask(ev.PrevKv.Value, ev.PrevKv.ModRevision); err == nil && t.NodeID == a.self {
							a.deleted(ctx, t)
						}
					}
					continue
				}
				t, err := decodeTask(ev.Kv.Value, ev.Kv.ModRevision)
				if err == nil && t.NodeID == a.self {
					a.kick(ctx, t)
				}
			}
		}
	}
}

// gc removes task containers of this node whose task record is gone (a
// service removed while the node was away, history pruned).
func (a *agent) gc(ctx context.Context, exists map[string]bool) {
	list, err := a.eng.Containers.List(ctx, container.ListOptions{All: true, Filters: map[string][]string{"label": {LabelTaskID}}})
	if err != nil {
		return
	}
	for _, c := range list {
		id := c.Labels[LabelTaskID]
		if c.Labels[LabelNodeID] != a.self && c.Labels[LabelNodeID] != "" {
			continue
		}
		if exists[id] {
			a.mu.Lock()
			a.ctrs[c.ID] = id
			a.mu.Unlock()
			continue
		}
		a.mu.Lock()
		busy := a.work[id] != nil
		a.mu.Unlock()
		if busy {
			continue
		}
		if err := a.eng.Containers.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err == nil || errdefs.IsNotFound(err) {
			a.s.log.Info("service agent: removed the container of a task that is gone", "task", id, "container", shortID(c.ID))
			a.mu.Lock()
			delete(a.ctrs, c.ID)
			a.mu.Unlock()
		}
	}
}

// followEvents re-examines a task when its container dies or its health
// changes.
func (a *agent) followEvents(ctx context.Context) {
	if a.eng.Subscribe == nil {
		return
	}
	for ctx.Err() == nil {
		ch, err := a.eng.Subscribe(ctx, events.Filter{Filters: map[string][]string{"type": {events.TypeContainer}, "label": {LabelTaskID}}})
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		for m := range ch {
			switch {
			case m.Action == "die", m.Action == "start", m.Action == "oom", m.Action == "destroy", strings.HasPrefix(m.Action, "health_status"):
			default:
				continue
			}
			sid, tid := m.Actor.Attributes[LabelServiceID], m.Actor.Attributes[LabelTaskID]
			if sid == "" || tid == "" {
				continue
			}
			gctx, cancel := context.WithTimeout(ctx, storeTimeout)
			resp, err := a.r.c.Get(gctx, cluster.TaskKey(sid, tid))
			cancel()
			if err != nil || len(resp.Kvs) == 0 {
				continue
			}
			if t, err := decodeTask(resp.Kvs[0].Value, resp.Kvs[0].ModRevision); err == nil && t.NodeID == a.self {
				a.kick(ctx, t)
			}
		}
	}
}

// kick hands t to its worker (one goroutine per task at a time, always
// working on the newest version).
func (a *agent) kick(ctx context.Context, t *stypes.Task) {
	a.mu.Lock()
	w := a.work[t.ID]
	if w != nil {
		if t.Version.Index >= w.t.Version.Index {
			w.t = t
		}
		w.pending = true
		a.mu.Unlock()
		return
	}
	w = &taskWorker{t: t}
	a.work[t.ID] = w
	a.mu.Unlock()
	go func() {
		for {
			a.mu.Lock()
			cur := w.t
			w.pending = false
			gone := w.deleted
			a.mu.Unlock()
			if gone {
				a.removeContainer(ctx, cur)
			} else {
				a.handle(ctx, cur)
			}
			a.mu.Lock()
			if !w.pending {
				delete(a.work, t.ID)
				a.mu.Unlock()
				return
			}
			a.mu.Unlock()
		}
	}()
}

// deleted: the task's record is gone; its container goes too.
func (a *agent) deleted(ctx context.Context, t *stypes.Task) {
	a.mu.Lock()
	if w := a.work[t.ID]; w != nil {
		w.deleted, w.pending = true, true
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.kick(ctx, t)
	a.mu.Lock()
	if w := a.work[t.ID]; w != nil {
		w.deleted, w.pending = true, true
	}
	a.mu.Unlock()
}

func (a *agent) removeContainer(ctx context.Context, t *stypes.Task) {
	name := ContainerName(t)
	ctr, err := a.eng.Containers.Inspect(ctx, name)
	if err != nil {
		return
	}
	if err := a.eng.Containers.Remove(ctx, ctr.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
		a.s.log.Warn("service agent: removing a task's container", "task", t.ID, "err", err)
		return
	}
	a.mu.Lock()
	delete(a.ctrs, ctr.ID)
	a.mu.Unlock()
}

// report writes the task's status (only forward: a terminal state is
// never overwritten); an unchanged status is not written.
func (a *agent) report(ctx context.Context, t *stypes.Task, st stypes.TaskStatus, nets []stypes.NetworkAttachment) {
	wctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	nt, err := a.r.updateTask(wctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
		if c.NodeID != a.self {
			return errNoChange
		}
		if terminal(c) && st.State != c.Status.State {
			return errNoChange
		}
		if stypes.TaskStateOrder(st.State) < stypes.TaskStateOrder(c.Status.State) && !terminal(&stypes.Task{Status: st}) {
			return errNoChange
		}
		same := c.Status.State == st.State && c.Status.Health == st.Health && c.Status.Err == st.Err &&
			(st.ContainerStatus == nil || c.Status.ContainerStatus != nil && *c.Status.ContainerStatus == *st.ContainerStatus) &&
			(st.PortStatus.Ports == nil || slices.Equal(c.Status.PortStatus.Ports, st.PortStatus.Ports)) &&
			(nets == nil || attachmentsEqual(c.NetworksAttachments, nets))
		if same {
			return errNoChange
		}
		if st.ContainerStatus == nil {
			st.ContainerStatus = c.Status.ContainerStatus
		}
		if st.PortStatus.Ports == nil {
			// As swarm's: a stopped task still shows the ports it had.
			st.PortStatus = c.Status.PortStatus
		}
		c.Status = st
		if nets != nil {
			c.NetworksAttachments = nets
		}
		c.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil && !errdefs.IsNotFound(err) {
		a.s.log.Debug("service agent: reporting a task's state", "task", t.ID, "err", err)
	}
	if nt != nil {
		*t = *nt
	}
}

func attachmentsEqual(a, b []stypes.NetworkAttachment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Network != b[i].Network || strings.Join(a[i].Addresses, ",") != strings.Join(b[i].Addresses, ",") {
			return false
		}
	}
	return true
}

func status(state, msg string) stypes.TaskStatus {
	return stypes.TaskStatus{Timestamp: time.Now().UTC(), State: state, Message: msg}
}

// handle brings the task's container to what the leader wants and
// reports what it is.
func (a *agent) handle(ctx context.Context, t *stypes.Task) {
	if t.Spec.ContainerSpec == nil {
		return // not a task the leader made: nothing to run
	}
	name := ContainerName(t)
	ctr, err := a.eng.Containers.Inspect(ctx, name)
	if err != nil && !errdefs.IsNotFound(err) {
		return
	}
	if err != nil {
		ctr = nil
	}
	if ctr != nil {
		a.mu.Lock()
		a.ctrs[ctr.ID] = t.ID
		a.mu.Unlock()
	}
	switch t.DesiredState {
	case stypes.TaskStateRunning:
		if terminal(t) {
			return
		}
		if ctr == nil {
			if stypes.TaskStateOrder(t.Status.State) >= stypes.TaskStateOrder(stypes.TaskStateStarting) {
				st := status(stypes.TaskStateFailed, "task: the container is gone")
				st.Err = "the task's container was removed"
				a.report(ctx, t, st, nil)
				return
			}
			a.start(ctx, t)
			return
		}
		a.observe(ctx, t, ctr)
	case stypes.TaskStateShutdown:
		if ctr != nil && ctr.State.Running {
			a.drain(ctx, t)
			timeout := 10 * time.Second
			if g := t.Spec.ContainerSpec.StopGracePeriod; g != nil {
				timeout = *g
			}
			if err := a.eng.Containers.Stop(ctx, ctr.ID, container.StopOptions{Timeout: &timeout}); err != nil && !errdefs.IsNotFound(err) {
				a.s.log.Warn("service agent: stopping a task", "task", t.ID, "err", err)
				return
			}
		}
		if !terminal(t) {
			st := status(stypes.TaskStateShutdown, "shutdown")
			if ctr != nil {
				if c, err := a.eng.Containers.Inspect(ctx, ctr.ID); err == nil {
					st.ContainerStatus = &stypes.ContainerStatus{ContainerID: c.ID, ExitCode: c.State.ExitCode}
				}
			}
			a.report(ctx, t, st, nil)
		}
	case stypes.TaskStateRemove:
		a.removeContainer(ctx, t)
		dctx, cancel := context.WithTimeout(ctx, storeTimeout)
		key := cluster.TaskKey(t.ServiceID, t.ID)
		_, _ = a.r.c.Txn(dctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", int64(t.Version.Index))).Then(clientv3.OpDelete(key)).Commit()
		cancel()
	}
}

// drain waits, before a task is stopped, for every node to have taken it
// out of its load balancer: the nodes' balancers drop a task in the store
// event that sets its desired state to shutdown, the one this agent acts
// on, so a node slower to apply it would still send requests to a task
// being stopped. A task that never took traffic (not running and
// healthy) is stopped at once. Docker sleeps the same 2 s
// (defaultGossipConvergeDelay) once the task left its service binding.
func (a *agent) drain(ctx context.Context, t *stypes.Task) {
	d := a.s.opts.DrainPeriod
	if d <= 0 || t.Status.State != stypes.TaskStateRunning ||
		(t.Status.Health != "" && t.Status.Health != container.HealthHealthy) {
		return
	}
	a.s.log.Debug("service agent: draining a task before it stops", "task", t.ID, "period", d)
	sleepCtx(ctx, d)
}

// observe reports a task's container as it is.
func (a *agent) observe(ctx context.Context, t *stypes.Task, ctr *container.Container) {
	cs := &stypes.ContainerStatus{ContainerID: ctr.ID, PID: ctr.State.Pid, ExitCode: ctr.State.ExitCode}
	switch {
	case ctr.State.Running:
		health := ""
		if ctr.State.Health != nil {
			health = ctr.State.Health.Status
		}
		nets := attachments(ctr)
		switch health {
		case container.HealthUnhealthy:
			timeout := 10 * time.Second
			_ = a.eng.Containers.Stop(ctx, ctr.ID, container.StopOptions{Timeout: &timeout})
			st := status(stypes.TaskStateFailed, "task: unhealthy container")
			st.Err, st.Health, st.ContainerStatus = "task: non-zero exit (unhealthy container)", health, cs
			a.report(ctx, t, st, nil)
		case container.HealthStarting:
			st := status(stypes.TaskStateStarting, "starting")
			st.Health, st.ContainerStatus, st.PortStatus = health, cs, portStatus(ctr)
			a.report(ctx, t, st, nets)
		default:
			st := status(stypes.TaskStateRunning, "started")
			st.Health, st.ContainerStatus, st.PortStatus = health, cs, portStatus(ctr)
			if t.Status.State == stypes.TaskStateRunning {
				st.Timestamp = t.Status.Timestamp
			}
			a.report(ctx, t, st, nets)
		}
	case ctr.State.StartedAt.IsZero() && ctr.State.FinishedAt.IsZero():
		// Created, never started (berthd stopped in between): start it.
		if err := a.eng.Containers.Start(ctx, ctr.ID); err != nil {
			a.fail(ctx, t, stypes.TaskStateFailed, "starting container failed", err)
			return
		}
		if c, err := a.eng.Containers.Inspect(ctx, ctr.ID); err == nil && c.State.Running {
			a.observe(ctx, t, c)
		}
	default:
		if ctr.State.ExitCode == 0 && !ctr.State.OOMKilled {
			st := status(stypes.TaskStateComplete, "finished")
			st.ContainerStatus = cs
			a.report(ctx, t, st, nil)
			return
		}
		st := status(stypes.TaskStateFailed, "task: non-zero exit ("+fmt.Sprint(ctr.State.ExitCode)+")")
		st.Err = st.Message
		if ctr.State.OOMKilled {
			st.Err = "task: out of memory (OOM killed)"
		}
		st.ContainerStatus = cs
		a.report(ctx, t, st, nil)
	}
}

// portStatus is what the container publishes on this node (the
// service's ports in mode host), as Docker's PortStatus.
func portStatus(ctr *container.Container) stypes.PortStatus {
	var ps stypes.PortStatus
	for _, b := range ctr.Config.PortBindings {
		proto := b.Proto
		if proto == "" {
			proto = stypes.PortProtocolTCP
		}
		ps.Ports = append(ps.Ports, stypes.PortConfig{Protocol: proto, TargetPort: uint32(b.ContainerPort),
			PublishedPort: uint32(b.HostPort), PublishMode: stypes.PortPublishModeHost})
	}
	return ps
}

func attachments(ctr *container.Container) []stypes.NetworkAttachment {
	var out []stypes.NetworkAttachment
	for _, n := range ctr.Config.Networks {
		ep, ok := ctr.NetworkSettings.Networks[n.Network]
		if !ok || ep.IPAddress == "" {
			continue
		}
		out = append(out, stypes.NetworkAttachment{
			Network:   stypes.AttachedNetwork{ID: ep.NetworkID, Name: n.Network},
			Addresses: []string{fmt.Sprintf("%s/%d", ep.IPAddress, ep.IPPrefixLen)},
		})
	}
	return out
}

func (a *agent) fail(ctx context.Context, t *stypes.Task, state, msg string, err error) {
	st := status(state, msg)
	st.Err = err.Error()
	a.report(ctx, t, st, nil)
}

// start makes and starts the task's container.
func (a *agent) start(ctx context.Context, t *stypes.Task) {
	cs := t.Spec.ContainerSpec
	if cs == nil {
		a.fail(ctx, t, stypes.TaskStateRejected, "no container spec", errors.New("the task has no container spec"))
		return
	}
	a.report(ctx, t, status(stypes.TaskStatePreparing, "preparing"), nil)
	if t.DesiredState != stypes.TaskStateRunning || terminal(t) {
		return
	}
	if err := a.ensureImage(ctx, cs.Image); err != nil {
		a.fail(ctx, t, stypes.TaskStateRejected, "preparing", fmt.Errorf("No such image: %s: %w", cs.Image, err))
		return
	}
	cfg, err := a.containerConfig(t)
	if err != nil {
		a.fail(ctx, t, stypes.TaskStateRejected, "preparing", err)
		return
	}
	id, _, err := a.eng.Containers.Create(ctx, cfg)
	if errdefs.IsConflict(err) || errdefs.IsAlreadyExists(err) {
		// Made by an earlier attempt (berthd restarted meanwhile).
		if c, ierr := a.eng.Containers.Inspect(ctx, cfg.Name); ierr == nil {
			id, err = c.ID, nil
		}
	}
	if err != nil {
		a.fail(ctx, t, stypes.TaskStateRejected, "preparing", err)
		return
	}
	a.mu.Lock()
	a.ctrs[id] = t.ID
	a.mu.Unlock()
	a.report(ctx, t, status(stypes.TaskStateStarting, "starting"), nil)
	if err := a.eng.Containers.Start(ctx, id); err != nil {
		a.fail(ctx, t, stypes.TaskStateFailed, "starting container failed", err)
		return
	}
	if ctr, err := a.eng.Containers.Inspect(ctx, id); err == nil {
		a.observe(ctx, t, ctr)
	}
}

func (a *agent) ensureImage(ctx context.Context, ref string) error {
	if a.eng.Images == nil {
		return nil
	}
	if _, err := a.eng.Images.Inspect(ctx, ref); err == nil {
		return nil
	}
	a.pulls.Lock()
	defer a.pulls.Unlock()
	if _, err := a.eng.Images.Inspect(ctx, ref); err == nil {
		return nil
	}
	_, err := a.eng.Images.Pull(ctx, ref, image.PullOptions{})
	return err
}

// containerConfig translates the task's spec into a container.
func (a *agent) containerConfig(t *stypes.Task) (container.Config, error) {
	cs := t.Spec.ContainerSpec
	labels := map[string]string{}
	for k, v := range cs.Labels {
		labels[k] = v
	}
	labels[LabelServiceID] = t.ServiceID
	labels[LabelServiceName] = t.ServiceName
	labels[LabelTask] = ""
	labels[LabelTaskID] = t.ID
	labels[LabelTaskName] = ContainerName(t)
	labels[LabelNodeID] = a.self
	cfg := container.Config{
		Name:           ContainerName(t),
		Image:          cs.Image,
		Cmd:            cs.Args,
		Env:            cs.Env,
		WorkingDir:     cs.Dir,
		User:           cs.User,
		Labels:         labels,
		Tty:            cs.TTY,
		OpenStdin:      cs.OpenStdin,
		StopSignal:     cs.StopSignal,
		ReadonlyRootfs: cs.ReadOnly,
		Mounts:         cs.Mounts,
		Healthcheck:    cs.Healthcheck,
		DNS:            nil,
		RestartPolicy:  container.RestartPolicy{Name: "no"},
	}
	if len(cs.Command) > 0 {
		cfg.Entrypoint, cfg.EntrypointSet = cs.Command, true
	}
	if cs.Init != nil {
		cfg.Init = *cs.Init
	}
	if cs.StopGracePeriod != nil {
		sec := int(cs.StopGracePeriod.Seconds())
		cfg.StopTimeout = &sec
	}
	if cs.DNSConfig != nil {
		cfg.DNS, cfg.DNSSearch, cfg.DNSOptions = cs.DNSConfig.Nameservers, cs.DNSConfig.Search, cs.DNSConfig.Options
	}
	for _, h := range cs.Hosts {
		// Docker's "IP host [alias...]" lines; berth's --add-host is host:ip.
		f := strings.Fields(h)
		for _, name := range f[min(1, len(f)):] {
			cfg.ExtraHosts = append(cfg.ExtraHosts, name+":"+f[0])
		}
	}
	cfg.Security.CapAdd, cfg.Security.CapDrop, cfg.Security.GroupAdd = cs.CapabilityAdd, cs.CapabilityDrop, cs.Groups
	cfg.Resources.Sysctls = cs.Sysctls
	cfg.Resources.Ulimits = cs.Ulimits
	if r := t.Spec.Resources; r != nil && r.Limits != nil {
		cfg.Resources.NanoCPUs = r.Limits.NanoCPUs
		cfg.Resources.Memory = r.Limits.MemoryBytes
		cfg.Resources.PidsLimit = r.Limits.Pids
	}
	if t.Spec.LogDriver != nil {
		cfg.LogConfig.Type = t.Spec.LogDriver.Name
	}
	for _, n := range t.Spec.Networks {
		cfg.Networks = append(cfg.Networks, container.NetworkAttachment{Network: n.Target, Aliases: n.Aliases})
	}
	if len(cfg.Networks) > 0 {
		cfg.NetworkMode = cfg.Networks[0].Network
	}
	svc, err := a.r.service(context.Background(), t.ServiceID)
	if err != nil {
		return cfg, nil
	}
	// Ports published in host mode bind on this node (ingress ones are
	// the routing mesh's, not the container's).
	for _, p := range svc.Endpoint.Ports {
		if p.PublishMode == stypes.PortPublishModeHost {
			cfg.PortBindings = append(cfg.PortBindings, container.PortBinding{HostPort: uint16(p.PublishedPort), ContainerPort: uint16(p.TargetPort), Proto: p.Protocol})
		}
	}
	return cfg, expandTaskTemplates(&cfg, taskTemplate(svc, t, a.self, a.host), cs.Hostname)
}

// expandTaskTemplates applies Docker's service templates where swarmkit
// does: the hostname, env values, mounts' sources and targets, network
// aliases.
func expandTaskTemplates(cfg *container.Config, data *tmplObject, hostname string) error {
	expand := func(what, s string) (string, error) {
		v, err := expandTemplate(s, data)
		if err != nil {
			return "", invalid("invalid template in %s %q: %v", what, s, err)
		}
		return v, nil
	}
	var err error
	if cfg.Hostname, err = expand("hostname", hostname); err != nil {
		return err
	}
	env := slices.Clone(cfg.Env)
	for i, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if v, err = expand("env", v); err != nil {
				return err
			}
			env[i] = k + "=" + v
		}
	}
	cfg.Env = env
	mounts := slices.Clone(cfg.Mounts)
	for i := range mounts {
		m := &mounts[i]
		if m.Source, err = expand("mount source", m.Source); err != nil {
			return err
		}
		if m.Target, err = expand("mount target", m.Target); err != nil {
			return err
		}
	}
	cfg.Mounts = mounts
	for i := range cfg.Networks {
		aliases := slices.Clone(cfg.Networks[i].Aliases)
		for j := range aliases {
			if aliases[j], err = expand("network alias", aliases[j]); err != nil {
				return err
			}
		}
		cfg.Networks[i].Aliases = aliases
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
