package service

import (
	"reflect"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/pkg/types/events"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Attributes of the service update event a task's state change makes
// (Docker has no task event: see docs/services.md).
const (
	AttrTaskID       = "task.id"
	AttrTaskNode     = "task.node"
	AttrTaskSlot     = "task.slot"
	AttrTaskStateNew = "task.state.new"
	AttrTaskStateOld = "task.state.old"
)

// publish sends m on this node's event bus, if it has one.
func (a *agent) publish(m events.Message) {
	if a.s.opts.Publish != nil {
		a.s.opts.Publish(m)
	}
}

// serviceEvent turns a change of a service record into Docker's service
// event: create, update (with what changed as key.old/key.new, as Docker
// does for replicas, image and updatestate) or remove.
func (a *agent) serviceEvent(ev *clientv3.Event) {
	if ev.Type == clientv3.EventTypeDelete {
		if ev.PrevKv == nil {
			return
		}
		old, err := decodeService(ev.PrevKv.Value, ev.PrevKv.ModRevision)
		if err != nil {
			return
		}
		a.publish(events.Message{Type: events.TypeService, Action: "remove", Actor: events.Actor{ID: old.ID, Attributes: map[string]string{"name": old.Spec.Name}}})
		return
	}
	cur, err := decodeService(ev.Kv.Value, ev.Kv.ModRevision)
	if err != nil {
		return
	}
	attrs := map[string]string{"name": cur.Spec.Name}
	if ev.PrevKv == nil {
		a.publish(events.Message{Type: events.TypeService, Action: "create", Actor: events.Actor{ID: cur.ID, Attributes: attrs}})
		return
	}
	old, err := decodeService(ev.PrevKv.Value, ev.PrevKv.ModRevision)
	if err != nil {
		return
	}
	changed := !reflect.DeepEqual(old.Spec, cur.Spec)
	if o, n := replicas(old), replicas(cur); o != n {
		attrs["replicas.old"], attrs["replicas.new"] = o, n
	}
	if o, n := imageOf(old), imageOf(cur); o != n {
		attrs["image.old"], attrs["image.new"] = o, n
	}
	if o, n := updateStateOf(old), updateStateOf(cur); o != n {
		attrs["updatestate.old"], attrs["updatestate.new"] = o, n
		changed = true
	}
	if !changed {
		return // a rewrite of the same service (the leader's bookkeeping)
	}
	a.publish(events.Message{Type: events.TypeService, Action: "update", Actor: events.Actor{ID: cur.ID, Attributes: attrs}})
}

// taskEvent turns a task's new state into a service update event with
// the task.* attributes. Removed task records (pruned history, a removed
// service) make none: the service's remove event says it.
func (a *agent) taskEvent(ev *clientv3.Event) {
	if ev.Type == clientv3.EventTypeDelete {
		return
	}
	t, err := decodeTask(ev.Kv.Value, ev.Kv.ModRevision)
	if err != nil {
		return
	}
	old := ""
	if ev.PrevKv != nil {
		if p, err := decodeTask(ev.PrevKv.Value, ev.PrevKv.ModRevision); err == nil {
			old = p.Status.State
		}
	}
	if old == t.Status.State {
		return
	}
	attrs := map[string]string{"name": t.ServiceName, AttrTaskID: t.ID, AttrTaskStateNew: t.Status.State, AttrTaskStateOld: old}
	if t.NodeID != "" {
		attrs[AttrTaskNode] = t.NodeID
	}
	if t.Slot > 0 {
		attrs[AttrTaskSlot] = strconv.Itoa(t.Slot)
	}
	a.publish(events.Message{Type: events.TypeService, Action: "update", Actor: events.Actor{ID: t.ServiceID, Attributes: attrs}})
}

func replicas(s *stypes.Service) string {
	if r := s.Spec.Mode.Replicated; r != nil {
		return strconv.FormatUint(r.Replicas, 10)
	}
	return ""
}

func imageOf(s *stypes.Service) string {
	if c := s.Spec.TaskTemplate.ContainerSpec; c != nil {
		return c.Image
	}
	return ""
}

func updateStateOf(s *stypes.Service) string {
	if s.UpdateStatus != nil {
		return s.UpdateStatus.State
	}
	return ""
}
