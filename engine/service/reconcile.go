package service

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/berthproject/berth/pkg/types/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// The leader's reconciliation: a pure function of a snapshot of the store
// (services, tasks, nodes) and the time, returning the writes that bring
// actual state towards desired state. leader.go applies them; the
// simulation (sim_test.go) drives it with fake nodes.

// historyLimit is how many tasks a slot keeps (Docker's task history
// retention limit).
const historyLimit = 5

// snapshot is what the leader reads before each pass.
type snapshot struct {
	services []*stypes.Service
	tasks    []*stypes.Task
	nodes    []ctypes.Node
	now      time.Time
}

// plan is what a pass writes.
type plan struct {
	create []*stypes.Task
	// update: tasks changed in place (desired state, node, pending status).
	update []*stypes.Task
	// remove: task records deleted (pruned history, services gone).
	remove []*stypes.Task
	// services whose UpdateStatus (or Spec, on an automatic rollback)
	// changed.
	services []*stypes.Service
	// wake is when the leader must look again even if nothing changes
	// (restart delays, update delays, monitors); zero: no need.
	wake time.Time
}

func (p *plan) wakeAt(t time.Time) {
	if p.wake.IsZero() || t.Before(p.wake) {
		p.wake = t
	}
}

// nodeInfo is a node as the scheduler sees it.
type nodeInfo struct {
	ctypes.Node
	up bool
	// reserved resources of tasks meant to run there, and how many tasks
	// of each service it has.
	cpu, mem  int64
	total     int
	byService map[string]int
}

func (n *nodeInfo) eligibleNew() bool {
	return n.up && (n.Availability == "" || n.Availability == ctypes.AvailabilityActive)
}

func (n *nodeInfo) keeps() bool {
	return n.up && n.Availability != ctypes.AvailabilityDrain
}

func (n *nodeInfo) role() string {
	if n.EtcdMember {
		return "manager"
	}
	return "worker"
}

// attr reads a node attribute of a constraint or spread descriptor.
func (n *nodeInfo) attr(key string) (string, bool) {
	switch {
	case key == "node.id":
		return n.ID, true
	case key == "node.hostname":
		return n.Hostname, true
	case key == "node.role":
		return n.role(), true
	case key == "node.platform.os":
		return "linux", true
	case key == "node.platform.arch":
		return goarch, true
	case strings.HasPrefix(key, "node.labels."):
		v, ok := n.Labels[strings.TrimPrefix(key, "node.labels.")]
		return v, ok
	case strings.HasPrefix(key, "engine.labels."):
		v, ok := n.Labels[strings.TrimPrefix(key, "engine.labels.")]
		return v, ok
	}
	return "", false
}

// satisfies reports whether the node meets every constraint of spec and
// has room for its reservations; why says what failed.
func (n *nodeInfo) satisfies(spec *stypes.TaskSpec) (ok bool, why string) {
	if spec.Placement != nil {
		for _, c := range spec.Placement.Constraints {
			pc, err := parseConstraint(c)
			if err != nil {
				return false, "invalid constraint " + c
			}
			v, has := n.attr(pc.key)
			match := has && strings.EqualFold(v, pc.value)
			if pc.key == "node.id" || strings.HasPrefix(pc.key, "node.labels.") || strings.HasPrefix(pc.key, "engine.labels.") {
				match = has && v == pc.value
			}
			if match != pc.equal {
				return false, "constraint " + c
			}
		}
	}
	if r := spec.Resources; r != nil && r.Reservations != nil {
		if r.Reservations.NanoCPUs > 0 && n.Resources.NanoCPUs > 0 && n.cpu+r.Reservations.NanoCPUs > n.Resources.NanoCPUs {
			return false, "insufficient resources (CPU)"
		}
		if r.Reservations.MemoryBytes > 0 && n.Resources.MemoryBytes > 0 && n.mem+r.Reservations.MemoryBytes > n.Resources.MemoryBytes {
			return false, "insufficient resources (memory)"
		}
	}
	return true, ""
}

func (n *nodeInfo) add(t *stypes.Task, sign int) {
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		n.cpu += int64(sign) * r.Reservations.NanoCPUs
		n.mem += int64(sign) * r.Reservations.MemoryBytes
	}
	n.total += sign
	n.byService[t.ServiceID] += sign
}

// live reports whether the leader means the task to run (or to run
// soon): it holds its slot.
func live(t *stypes.Task) bool {
	return t.DesiredState == stypes.TaskStateRunning || t.DesiredState == stypes.TaskStateReady
}

func terminal(t *stypes.Task) bool { return stypes.TaskStateTerminal(t.Status.State) }

// specEqual compares task specs by their JSON (the stored form).
func specEqual(a, b *stypes.TaskSpec) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// slotKey names a task's slot: its number for a replicated service, its
// node for a global one.
func slotKey(t *stypes.Task) string {
	if t.Slot > 0 {
		return strconv.Itoa(t.Slot)
	}
	return t.NodeID
}

// reconcile computes one pass.
func reconcile(snap snapshot, upd map[string]*updateState) *plan {
	p := &plan{}
	nodes := map[string]*nodeInfo{}
	var nodeList []*nodeInfo
	for _, n := range snap.nodes {
		ni := &nodeInfo{Node: n, up: n.Status == ctypes.StatusReady, byService: map[string]int{}}
		nodes[n.ID] = ni
		nodeList = append(nodeList, ni)
	}
	sort.Slice(nodeList, func(i, j int) bool { return nodeList[i].ID < nodeList[j].ID })
	byService := map[string][]*stypes.Task{}
	for _, t := range snap.tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
		if n := nodes[t.NodeID]; n != nil && live(t) && !terminal(t) {
			n.add(t, 1)
		}
	}
	services := map[string]bool{}
	for _, svc := range snap.services {
		services[svc.ID] = true
		// A record the leader cannot run (no container spec or mode:
		// written by something else than the API) is left alone, and so
		// are its tasks.
		if svc.Spec.TaskTemplate.ContainerSpec == nil || svc.Spec.Mode.Replicated == nil && svc.Spec.Mode.Global == nil {
			continue
		}
		if err := normalize(&svc.Spec); err != nil {
			continue
		}
		st := upd[svc.ID]
		if st == nil {
			st = &updateState{}
			upd[svc.ID] = st
		}
		r := &reconciler{p: p, svc: svc, tasks: byService[svc.ID], nodes: nodes, nodeList: nodeList, now: snap.now, upd: st}
		r.run()
	}
	for id := range upd {
		if !services[id] {
			delete(upd, id)
		}
	}
	// Tasks of removed services: their node removes the container and
	// the record; the leader removes those no live node will.
	for sid, ts := range byService {
		if services[sid] {
			continue
		}
		for _, t := range ts {
			n := nodes[t.NodeID]
			switch {
			case n == nil || !n.up || t.NodeID == "":
				p.remove = append(p.remove, t)
			case t.DesiredState != stypes.TaskStateRemove:
				c := *t
				c.DesiredState = stypes.TaskStateRemove
				p.update = append(p.update, &c)
			}
		}
	}
	return p
}

// updateState is the leader's memory of a rolling update (lost with the
// leadership: a new leader starts the delay again).
type updateState struct {
	batchDoneAt time.Time
}

type reconciler struct {
	p        *plan
	svc      *stypes.Service
	tasks    []*stypes.Task
	nodes    map[string]*nodeInfo
	nodeList []*nodeInfo
	now      time.Time
	upd      *updateState

	slots map[string][]*stypes.Task // live and dead, newest first
}

func (r *reconciler) nodeUp(id string) bool {
	n := r.nodes[id]
	return n != nil && n.up
}

// changed applies fn to t and records the write (once per task: a new
// task is written whole, a task changed twice is written once).
func (r *reconciler) changed(t *stypes.Task, fn func(*stypes.Task)) {
	fn(t)
	t.UpdatedAt = r.now
	if r.isNew(t) || slices.Contains(r.p.update, t) {
		return
	}
	r.p.update = append(r.p.update, t)
}

func (r *reconciler) shutdown(t *stypes.Task) {
	if n := r.nodes[t.NodeID]; n != nil && !terminal(t) {
		n.add(t, -1)
	}
	r.changed(t, func(c *stypes.Task) { c.DesiredState = stypes.TaskStateShutdown })
}

func (r *reconciler) run() {
	svc := r.svc
	tmpl := &svc.Spec.TaskTemplate
	r.slots = map[string][]*stypes.Task{}
	for _, t := range r.tasks {
		k := slotKey(t)
		r.slots[k] = append(r.slots[k], t)
	}
	for _, ts := range r.slots {
		sort.Slice(ts, func(i, j int) bool { return ts[i].CreatedAt.After(ts[j].CreatedAt) })
	}

	// 1. Tasks on down or drained nodes are shut down and replaced now;
	//    tasks that ended are replaced per the restart policy.
	for _, k := range r.sortedSlots() {
		for _, t := range slices.Clone(r.slots[k]) {
			if !live(t) {
				continue
			}
			switch {
			case t.NodeID != "" && !r.nodeUp(t.NodeID):
				r.shutdown(t)
				if svc.Spec.Mode.Replicated != nil {
					r.replace(k, t, 0, false)
				}
			case t.NodeID != "" && !r.nodes[t.NodeID].keeps():
				r.shutdown(t)
				if svc.Spec.Mode.Replicated != nil {
					r.replace(k, t, 0, false)
				}
			case terminal(t) && r.shouldRestart(k, t):
				r.shutdown(t)
				r.replace(k, t, *tmpl.RestartPolicy.Delay, true)
			}
		}
	}

	// 2. Promote ready tasks whose delay passed and whose slot is free;
	//    in a slot with a running up-to-date task, older live tasks stop
	//    (start-first updates); assign pending tasks.
	for _, k := range r.sortedSlots() {
		ts := r.slots[k]
		var runningNew *stypes.Task
		for _, t := range ts {
			if live(t) && t.Status.State == stypes.TaskStateRunning && specEqual(&t.Spec, tmpl) {
				runningNew = t
				break
			}
		}
		// The slot is served: every other live task of it goes (the old
		// one of a start-first update, or newer ones made while an
		// up-to-date task was still running, as in a rollback).
		for _, t := range ts {
			if runningNew != nil && t != runningNew && live(t) {
				r.shutdown(t)
			}
		}
		for _, t := range ts {
			if t.DesiredState != stypes.TaskStateReady {
				continue
			}
			if at := t.CreatedAt.Add(t.RestartDelay); r.now.Before(at) {
				r.p.wakeAt(at)
				continue
			}
			if !r.slotFreeFor(k, t) {
				continue
			}
			r.changed(t, func(c *stypes.Task) { c.DesiredState = stypes.TaskStateRunning })
		}
		for _, t := range ts {
			if live(t) && t.NodeID == "" {
				r.assign(t)
			}
		}
	}

	// 3. The number of tasks.
	if svc.Spec.Mode.Replicated != nil {
		r.scaleReplicated(svc.Spec.Mode.Replicated.Replicas)
	} else {
		r.global()
	}

	// 4. Rolling update.
	r.rollingUpdate()

	// 5. History: each slot keeps its newest historyLimit tasks; a
	//    replicated service's slots above the replicas that hold no live
	//    task lose theirs.
	for k, ts := range r.slots {
		kept := 0
		hasLive := slices.ContainsFunc(ts, live)
		for _, t := range ts {
			if live(t) {
				continue
			}
			done := terminal(t) || !r.nodeUp(t.NodeID) || t.NodeID == ""
			if !done {
				continue
			}
			kept++
			stale := false
			if svc.Spec.Mode.Replicated != nil && !hasLive {
				if n, _ := strconv.Atoi(k); n > int(svc.Spec.Mode.Replicated.Replicas) {
					stale = true
				}
			}
			if svc.Spec.Mode.Global != nil && !hasLive {
				if n := r.nodes[k]; n == nil {
					stale = true
				}
			}
			if kept > historyLimit || stale {
				r.p.remove = append(r.p.remove, t)
			}
		}
	}
}

func (r *reconciler) sortedSlots() []string {
	keys := make([]string, 0, len(r.slots))
	for k := range r.slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, ea := strconv.Atoi(keys[i])
		b, eb := strconv.Atoi(keys[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}

// slotFreeFor: every other task of the slot has stopped (or its node is
// gone), so t may start (stop-first, restarts).
func (r *reconciler) slotFreeFor(k string, t *stypes.Task) bool {
	for _, o := range r.slots[k] {
		if o == t || terminal(o) || o.NodeID == "" || !r.nodeUp(o.NodeID) {
			continue
		}
		if o.Status.State == "" || stypes.TaskStateOrder(o.Status.State) < stypes.TaskStateOrder(stypes.TaskStatePreparing) {
			if !live(o) {
				continue // never started
			}
		}
		return false
	}
	return true
}

// shouldRestart applies the restart policy to a task that ended.
func (r *reconciler) shouldRestart(k string, t *stypes.Task) bool {
	rp := r.svc.Spec.TaskTemplate.RestartPolicy
	switch rp.Condition {
	case stypes.RestartPolicyConditionNone:
		return false
	case stypes.RestartPolicyConditionOnFailure:
		if t.Status.State == stypes.TaskStateComplete {
			return false
		}
	}
	if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
		n := uint64(0)
		for _, o := range r.slots[k] {
			if !terminal(o) || !restarted(o) {
				continue
			}
			if rp.Window != nil && *rp.Window > 0 && r.now.Sub(o.Status.Timestamp) > *rp.Window {
				continue
			}
			n++
		}
		// n counts the restarts that ended, t among them if it is one.
		if n >= *rp.MaxAttempts {
			return false
		}
	}
	return true
}

// replace makes a new task for slot k in place of old, to run after
// delay (0: at once).
func (r *reconciler) replace(k string, old *stypes.Task, delay time.Duration, restart bool) {
	t := r.newTask(old.Slot)
	if r.svc.Spec.Mode.Global != nil {
		t.NodeID = old.NodeID
	}
	if delay > 0 {
		t.DesiredState = stypes.TaskStateReady
		t.RestartDelay = delay
		r.p.wakeAt(r.now.Add(delay))
	}
	if restart {
		t.Labels = map[string]string{labelRestartOf: old.ID}
	}
	if t.NodeID == "" {
		r.assign(t)
	} else if n := r.nodes[t.NodeID]; n != nil {
		n.add(t, 1)
	}
	r.p.create = append(r.p.create, t)
	r.slots[k] = append([]*stypes.Task{t}, r.slots[k]...)
}

// labelRestartOf marks a task made to replace another (its restart count
// for max-attempts).
const labelRestartOf = "berth.restart-of"

func (r *reconciler) newTask(slot int) *stypes.Task {
	return &stypes.Task{
		ID:           newID(),
		Meta:         stypes.Meta{CreatedAt: r.now, UpdatedAt: r.now},
		Spec:         r.svc.Spec.TaskTemplate,
		ServiceID:    r.svc.ID,
		ServiceName:  r.svc.Spec.Name,
		Slot:         slot,
		DesiredState: stypes.TaskStateRunning,
		SpecVersion:  r.svc.Version.Index,
		Status:       stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStateNew, Message: "created"},
	}
}

// assign picks a node for t (replicated): among the nodes that take new
// tasks, meet the constraints and have the reservations free, the one
// with the fewest tasks of the service (within the spread preferences'
// emptiest group), then the fewest tasks overall. No node: the task
// stays pending, saying why.
func (r *reconciler) assign(t *stypes.Task) {
	var cands []*nodeInfo
	why := map[string]int{}
	maxPer := uint64(0)
	if pl := t.Spec.Placement; pl != nil {
		maxPer = pl.MaxReplicas
	}
	for _, n := range r.nodeList {
		if !n.eligibleNew() {
			why["unavailable"]++
			continue
		}
		if ok, w := n.satisfies(&t.Spec); !ok {
			why[w]++
			continue
		}
		if maxPer > 0 && uint64(n.byService[r.svc.ID]) >= maxPer {
			why["max replicas per node"]++
			continue
		}
		cands = append(cands, n)
	}
	if len(cands) == 0 {
		msg := "no suitable node"
		if len(why) > 0 {
			var parts []string
			for w, c := range why {
				parts = append(parts, fmt.Sprintf("%s on %d node%s", w, c, plural(c)))
			}
			sort.Strings(parts)
			msg += " (" + strings.Join(parts, ", ") + ")"
		}
		if t.Status.State != stypes.TaskStatePending || t.Status.Err != msg {
			r.changed(t, func(c *stypes.Task) {
				c.Status = stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStatePending, Message: "pending task scheduling", Err: msg}
			})
		}
		return
	}
	// Spread preferences: narrow to the emptiest group, level by level.
	if pl := t.Spec.Placement; pl != nil {
		for _, pref := range pl.Preferences {
			if pref.Spread == nil {
				continue
			}
			groups := map[string]int{}
			for _, n := range r.nodeList {
				if !n.eligibleNew() && n.byService[r.svc.ID] == 0 {
					continue
				}
				v, _ := n.attr(pref.Spread.SpreadDescriptor)
				groups[v] += n.byService[r.svc.ID]
			}
			best := -1
			for _, n := range cands {
				v, _ := n.attr(pref.Spread.SpreadDescriptor)
				if best < 0 || groups[v] < best {
					best = groups[v]
				}
			}
			cands = slices.DeleteFunc(cands, func(n *nodeInfo) bool {
				v, _ := n.attr(pref.Spread.SpreadDescriptor)
				return groups[v] != best
			})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.byService[r.svc.ID] != b.byService[r.svc.ID] {
			return a.byService[r.svc.ID] < b.byService[r.svc.ID]
		}
		return a.total < b.total
	})
	n := cands[0]
	r.changed(t, func(c *stypes.Task) {
		c.NodeID = n.ID
		c.Status = stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStateAssigned, Message: "scheduler assigned task to node"}
	})
	n.add(t, 1)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// isNew: t is made by this pass (a task read from the store has a
// version).
func (r *reconciler) isNew(t *stypes.Task) bool {
	return t.Version.Index == 0
}

// scaleReplicated makes the live slots number replicas.
func (r *reconciler) scaleReplicated(replicas uint64) {
	var liveSlots []string
	used := map[int]bool{}
	for k, ts := range r.slots {
		n, _ := strconv.Atoi(k)
		used[n] = true
		if slices.ContainsFunc(ts, live) {
			liveSlots = append(liveSlots, k)
		}
	}
	switch {
	case uint64(len(liveSlots)) < replicas:
		missing := int(replicas) - len(liveSlots)
		for slot := 1; missing > 0; slot++ {
			k := strconv.Itoa(slot)
			if slices.Contains(liveSlots, k) {
				continue
			}
			t := r.newTask(slot)
			r.assign(t)
			r.p.create = append(r.p.create, t)
			r.slots[k] = append([]*stypes.Task{t}, r.slots[k]...)
			missing--
		}
	case uint64(len(liveSlots)) > replicas:
		// Remove slots whose task is not running first, then those on the
		// nodes with the most tasks of the service, then the highest.
		score := func(k string) (int, int, int) {
			var t *stypes.Task
			for _, o := range r.slots[k] {
				if live(o) {
					t = o
					break
				}
			}
			run := 1
			if t.Status.State == stypes.TaskStateRunning {
				run = 0
			}
			load := 0
			if n := r.nodes[t.NodeID]; n != nil {
				load = n.byService[r.svc.ID]
			}
			slot, _ := strconv.Atoi(k)
			return run, load, slot
		}
		extra := len(liveSlots) - int(replicas)
		for ; extra > 0; extra-- {
			best := -1
			for i, k := range liveSlots {
				if best < 0 {
					best = i
					continue
				}
				a1, a2, a3 := score(k)
				b1, b2, b3 := score(liveSlots[best])
				if a1 > b1 || a1 == b1 && (a2 > b2 || a2 == b2 && a3 > b3) {
					best = i
				}
			}
			for _, t := range r.slots[liveSlots[best]] {
				if live(t) {
					r.shutdown(t)
				}
			}
			liveSlots = slices.Delete(liveSlots, best, best+1)
		}
	}
}

// global keeps one live task on every node that takes tasks and meets
// the constraints.
func (r *reconciler) global() {
	tmpl := &r.svc.Spec.TaskTemplate
	for _, n := range r.nodeList {
		ts := r.slots[n.ID]
		hasLive := slices.ContainsFunc(ts, live)
		ok, _ := n.satisfies(tmpl)
		if hasLive {
			if !n.keeps() || !r.constraintsOK(n) {
				for _, t := range ts {
					if live(t) {
						r.shutdown(t)
					}
				}
			}
			continue
		}
		if !n.eligibleNew() || !ok {
			continue
		}
		// A node whose task ended and is not to be restarted keeps none.
		if len(ts) > 0 && !r.shouldRestart(n.ID, ts[0]) && terminal(ts[0]) && ts[0].DesiredState == stypes.TaskStateShutdown {
			continue
		}
		t := r.newTask(0)
		t.NodeID = n.ID
		t.Status = stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStateAssigned, Message: "scheduler assigned task to node"}
		n.add(t, 1)
		r.p.create = append(r.p.create, t)
		r.slots[n.ID] = append([]*stypes.Task{t}, ts...)
	}
}

func (r *reconciler) constraintsOK(n *nodeInfo) bool {
	spec := r.svc.Spec.TaskTemplate
	spec.Resources = nil // its own reservation is counted already
	ok, _ := n.satisfies(&spec)
	return ok
}

// rollingUpdate replaces outdated live tasks, parallelism at a time,
// each batch running (and healthy) before the next after the delay.
func (r *reconciler) rollingUpdate() {
	svc := r.svc
	us := svc.UpdateStatus
	if us == nil {
		return
	}
	rollback := us.State == stypes.UpdateStateRollbackStarted
	if us.State != stypes.UpdateStateUpdating && !rollback {
		return
	}
	cfg := svc.Spec.UpdateConfig
	if rollback {
		cfg = svc.Spec.RollbackConfig
	}
	tmpl := &svc.Spec.TaskTemplate
	started := time.Time{}
	if us.StartedAt != nil {
		started = *us.StartedAt
	}
	var outdated []string
	inFlight := 0
	failed := 0
	total := 0
	var failedTask string
	lastRunning := time.Time{}
	for _, k := range r.sortedSlots() {
		ts := r.slots[k]
		var cur *stypes.Task // the newest live task
		for _, t := range ts {
			if live(t) {
				cur = t
				break
			}
		}
		for _, t := range ts {
			if t.CreatedAt.Before(started) || !specEqual(&t.Spec, tmpl) {
				continue
			}
			if t.Status.State == stypes.TaskStateFailed || t.Status.State == stypes.TaskStateRejected {
				if t.Status.Timestamp.Sub(t.CreatedAt) < cfg.Monitor+time.Minute || cfg.Monitor == 0 {
					failed++
					failedTask = t.ID
				}
			}
		}
		if cur == nil {
			continue
		}
		total++
		if !specEqual(&cur.Spec, tmpl) {
			outdated = append(outdated, k)
			continue
		}
		if cur.Status.State != stypes.TaskStateRunning {
			if cur.NodeID == "" && cur.Status.State == stypes.TaskStatePending {
				continue // cannot be placed: not held against the update
			}
			inFlight++
			continue
		}
		if cur.Status.Timestamp.After(lastRunning) {
			lastRunning = cur.Status.Timestamp
		}
		// The old task of a start-first slot may still be stopping (its
		// grace period): the next batch does not wait for it, as swarm's.
	}
	if failed > 0 && cfg.FailureAction != stypes.UpdateFailureActionContinue &&
		float32(failed) > cfg.MaxFailureRatio*float32(max(total, 1)) {
		c := *svc
		now := r.now
		switch {
		case cfg.FailureAction == stypes.UpdateFailureActionRollback && !rollback && svc.PreviousSpec != nil:
			prev := *svc.PreviousSpec
			cur := svc.Spec
			c.Spec, c.PreviousSpec = prev, &cur
			c.UpdateStatus = &stypes.UpdateStatus{State: stypes.UpdateStateRollbackStarted, StartedAt: &now,
				Message: "update rolled back due to failure or early termination of task " + failedTask}
		case rollback:
			c.UpdateStatus = &stypes.UpdateStatus{State: stypes.UpdateStateRollbackPaused, StartedAt: us.StartedAt,
				Message: "rollback paused due to failure or early termination of task " + failedTask}
		default:
			c.UpdateStatus = &stypes.UpdateStatus{State: stypes.UpdateStatePaused, StartedAt: us.StartedAt,
				Message: "update paused due to failure or early termination of task " + failedTask}
		}
		r.p.services = append(r.p.services, &c)
		return
	}
	if len(outdated) == 0 && inFlight == 0 {
		if done := lastRunning.Add(cfg.Monitor); r.now.Before(done) {
			r.p.wakeAt(done)
			return
		}
		c := *svc
		now := r.now
		c.UpdateStatus = &stypes.UpdateStatus{State: stypes.UpdateStateCompleted, StartedAt: us.StartedAt, CompletedAt: &now, Message: "update completed"}
		if rollback {
			c.UpdateStatus.State, c.UpdateStatus.Message = stypes.UpdateStateRollbackCompleted, "rollback completed"
		}
		r.p.services = append(r.p.services, &c)
		r.upd.batchDoneAt = time.Time{}
		return
	}
	par := int(cfg.Parallelism)
	if par == 0 {
		par = len(outdated) + inFlight
	}
	if inFlight >= par {
		r.upd.batchDoneAt = time.Time{}
		return
	}
	if inFlight == 0 && cfg.Delay > 0 {
		if r.upd.batchDoneAt.IsZero() {
			r.upd.batchDoneAt = r.now
			if lastRunning.IsZero() || lastRunning.Before(started) {
				// The first batch goes at once.
				r.upd.batchDoneAt = r.now.Add(-cfg.Delay)
			}
		}
		if at := r.upd.batchDoneAt.Add(cfg.Delay); r.now.Before(at) {
			r.p.wakeAt(at)
			return
		}
	}
	if inFlight > 0 {
		// Batches go whole: wait for this one.
		return
	}
	r.upd.batchDoneAt = time.Time{}
	for _, k := range outdated[:min(par, len(outdated))] {
		var old *stypes.Task
		for _, t := range r.slots[k] {
			if live(t) {
				old = t
				break
			}
		}
		t := r.newTask(old.Slot)
		if svc.Spec.Mode.Global != nil {
			t.NodeID = old.NodeID
		}
		if cfg.Order != stypes.UpdateOrderStartFirst {
			// stop-first: the new task waits (ready) for the old to stop.
			r.shutdown(old)
			t.DesiredState = stypes.TaskStateReady
		}
		if t.NodeID == "" {
			if cfg.Order != stypes.UpdateOrderStartFirst && r.nodeUp(old.NodeID) {
				// Keep the slot on its node when it still fits.
				if n := r.nodes[old.NodeID]; n.eligibleNew() {
					if ok, _ := n.satisfies(&t.Spec); ok {
						t.NodeID = n.ID
						t.Status = stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStateAssigned, Message: "scheduler assigned task to node"}
						n.add(t, 1)
					}
				}
			}
			if t.NodeID == "" {
				r.assign(t)
			}
		} else {
			t.Status = stypes.TaskStatus{Timestamp: r.now, State: stypes.TaskStateAssigned, Message: "scheduler assigned task to node"}
			if n := r.nodes[t.NodeID]; n != nil {
				n.add(t, 1)
			}
		}
		r.p.create = append(r.p.create, t)
		r.slots[k] = append([]*stypes.Task{t}, r.slots[k]...)
	}
}

// restarted reports whether the task was made to replace another.
func restarted(t *stypes.Task) bool { return t.Labels[labelRestartOf] != "" }

const goarch = runtime.GOARCH
