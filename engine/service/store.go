package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// The service records in the cluster store (keys: engine/cluster/keys.go).
//
//	/berth/services/<id>               a stypes.Service (Version.Index = ModRevision)
//	/berth/service-names/<name>        the service's ID
//	/berth/ports/<proto>/<port>        the ID of the service publishing the port
//	/berth/tasks/<service-id>/<id>     a stypes.Task (Version.Index = ModRevision)
//	/berth/election/services/<lease>   the leader candidates (concurrency.Election)

// errNoChange, returned by a mutate function, leaves the record as it is.
var errNoChange = errors.New("no change")

// records wraps the etcd client with the service records' reads and
// writes.
type records struct {
	c *clientv3.Client
}

func decodeService(kv []byte, rev int64) (*stypes.Service, error) {
	var s stypes.Service
	if err := json.Unmarshal(kv, &s); err != nil {
		return nil, err
	}
	s.Version.Index = uint64(rev)
	return &s, nil
}

func decodeTask(kv []byte, rev int64) (*stypes.Task, error) {
	var t stypes.Task
	if err := json.Unmarshal(kv, &t); err != nil {
		return nil, err
	}
	t.Version.Index = uint64(rev)
	return &t, nil
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the records' types always marshal
	}
	return string(b)
}

// services reads every service.
func (r records) services(ctx context.Context) ([]*stypes.Service, int64, error) {
	resp, err := r.c.Get(ctx, cluster.PrefixServices, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	out := make([]*stypes.Service, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if s, err := decodeService(kv.Value, kv.ModRevision); err == nil {
			out = append(out, s)
		}
	}
	return out, resp.Header.Revision, nil
}

// service reads one service by ID (ErrNotFound when gone).
func (r records) service(ctx context.Context, id string) (*stypes.Service, error) {
	resp, err := r.c.Get(ctx, cluster.ServiceKey(id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("service %s not found: %w", id, errdefs.ErrNotFound)
	}
	return decodeService(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// find resolves a service reference: full ID, name, unique ID prefix.
func (r records) find(ctx context.Context, ref string) (*stypes.Service, error) {
	if ref == "" {
		return nil, fmt.Errorf("no service given: %w", errdefs.ErrInvalidArgument)
	}
	all, _, err := r.services(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.ID == ref {
			return s, nil
		}
	}
	for _, s := range all {
		if s.Spec.Name == ref {
			return s, nil
		}
	}
	var found []*stypes.Service
	for _, s := range all {
		if strings.HasPrefix(s.ID, ref) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("service %s not found: %w", ref, errdefs.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("service %s is ambiguous (%d services match): give more of its ID: %w", ref, len(found), errdefs.ErrInvalidArgument)
}

// tasks reads the tasks of one service ("" for every service's).
func (r records) tasks(ctx context.Context, serviceID string) ([]*stypes.Task, int64, error) {
	prefix := cluster.PrefixTasks
	if serviceID != "" {
		prefix = cluster.TasksPrefix(serviceID)
	}
	resp, err := r.c.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	out := make([]*stypes.Task, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if t, err := decodeTask(kv.Value, kv.ModRevision); err == nil {
			out = append(out, t)
		}
	}
	return out, resp.Header.Revision, nil
}

// findTask resolves a task by full ID or unique ID prefix.
func (r records) findTask(ctx context.Context, ref string) (*stypes.Task, error) {
	all, _, err := r.tasks(ctx, "")
	if err != nil {
		return nil, err
	}
	var found []*stypes.Task
	for _, t := range all {
		if t.ID == ref {
			return t, nil
		}
		if ref != "" && strings.HasPrefix(t.ID, ref) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("task %s not found: %w", ref, errdefs.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("task %s is ambiguous (%d tasks match): give more of its ID: %w", ref, len(found), errdefs.ErrInvalidArgument)
}

// updateTask reads a task, applies fn and writes it back if nobody wrote
// it meanwhile (retrying on a race). guard, when set, is an extra
// condition (the leader's election key). fn returning errNoChange writes
// nothing. A task that is gone is ErrNotFound.
func (r records) updateTask(ctx context.Context, serviceID, id string, guard []clientv3.Cmp, fn func(*stypes.Task) error) (*stypes.Task, error) {
	key := cluster.TaskKey(serviceID, id)
	for attempt := 0; attempt < 20; attempt++ {
		resp, err := r.c.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, fmt.Errorf("task %s not found: %w", id, errdefs.ErrNotFound)
		}
		t, err := decodeTask(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
		if err != nil {
			return nil, err
		}
		if err := fn(t); err != nil {
			if errors.Is(err, errNoChange) {
				return t, nil
			}
			return nil, err
		}
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)}, guard...)
		tr, err := r.c.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, encode(t))).Commit()
		if err != nil {
			return nil, err
		}
		if tr.Succeeded {
			t.Version.Index = uint64(tr.Header.Revision)
			return t, nil
		}
		if len(guard) > 0 {
			// The guard may be what failed: the caller lost leadership.
			g, err := r.c.Txn(ctx).If(guard...).Commit()
			if err != nil {
				return nil, err
			}
			if !g.Succeeded {
				return nil, errNotLeader
			}
		}
	}
	return nil, fmt.Errorf("task %s: the cluster store kept changing: %w", id, errdefs.ErrUnavailable)
}

// errNotLeader is a leader's write refused because it no longer leads.
var errNotLeader = errors.New("no longer the service leader")
