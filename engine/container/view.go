package container

import (
	"context"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// view is the service's in-memory copy of its containers' records and of
// their tasks' states, so that List (ps, through every API) needs no
// containerd round trip: a list of 50 records carries their OCI specs (about
// 500 kB) and took most of a ps, where dockerd answers from memory.
//
// Correctness comes before speed. An entry is either fresh (no change seen
// since it was read from containerd) or dirty (read again by the next List).
// Every write of the service goes through containerStore and taskClient,
// which mark the container dirty when the call returns, before its caller
// can tell anyone the change is done; containerd's events mark dirty what
// changes without berth (exits, OOM kills, a change made with ctr). The view
// serves only while that event stream is known to be live (a sync event
// published through it came back); when the stream ends, or an event is not
// understood, every entry is dropped and the next List reads containerd in
// full. After a berthd restart it starts empty.
type view struct {
	mu      sync.Mutex
	seq     uint64 // bumped by every invalidation
	live    bool   // the event stream is confirmed (setLive)
	loaded  bool   // entries hold every container: a full read since allAt
	allAt   uint64 // seq of the last invalidateAll
	entries map[string]*viewEntry
}

type viewEntry struct {
	dirtyAt uint64               // seq of the last invalidation of this ID
	fresh   bool                 // c, proc and info are current
	gone    bool                 // the container no longer exists (fresh too)
	c       containers.Container // Spec dropped: info holds what List needs
	proc    *tasktypes.Process   // nil: no task
	info    *listedInfo
}

// viewRefetchMax is how many dirty containers a List reads one by one (two
// calls each) before it reads them all at once instead.
const viewRefetchMax = 8

// viewSyncTopic is the event berth publishes in its namespace to learn that
// its subscription to containerd's events is in place.
const viewSyncTopic = "/berth/view-sync"

func newView() *view { return &view{entries: map[string]*viewEntry{}} }

// invalidate marks a container dirty (known or not: a new one is listed).
func (v *view) invalidate(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	e := v.entries[id]
	if e == nil {
		e = &viewEntry{}
		v.entries[id] = e
	}
	e.dirtyAt, e.fresh = v.seq, false
}

// invalidateAll drops every entry: the next List reads containerd in full.
func (v *view) invalidateAll() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.invalidateAllLocked()
}

func (v *view) invalidateAllLocked() {
	v.seq++
	v.allAt, v.loaded = v.seq, false
	clear(v.entries)
}

// setLive records whether the event stream that invalidates the view is in
// place. A change either way drops every entry.
func (v *view) setLive(live bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live != live {
		v.live = live
		v.invalidateAllLocked()
	}
}

// listedContainer is one container as List sees it.
type listedContainer struct {
	c    containers.Container
	proc *tasktypes.Process
	info *listedInfo
}

// snapshot returns every container of the namespace with its task's state,
// from the view when it can serve, else from containerd (and then fills the
// view). Each container's state is at least as new as the call.
func (s *Service) snapshot(ctx context.Context) ([]listedContainer, error) {
	v := s.view
	v.mu.Lock()
	var dirty []string
	if v.live && v.loaded {
		for id, e := range v.entries {
			if !e.fresh {
				dirty = append(dirty, id)
			}
		}
	}
	if !v.live || !v.loaded || len(dirty) > viewRefetchMax {
		v.mu.Unlock()
		return s.snapshotFull(ctx)
	}
	start := v.seq
	out := make([]listedContainer, 0, len(v.entries))
	for _, e := range v.entries {
		if e.fresh && !e.gone {
			out = append(out, listedContainer{c: e.c, proc: e.proc, info: e.info})
		}
	}
	v.mu.Unlock()

	for _, id := range dirty {
		e, err := s.fetchOne(ctx, id, start)
		if err != nil {
			return nil, err
		}
		if !e.gone {
			out = append(out, listedContainer{c: e.c, proc: e.proc, info: e.info})
		}
	}
	return out, nil
}

// viewed returns one container as the view holds it, read from containerd
// unless it is fresh there. gone: it does not exist.
func (s *Service) viewed(ctx context.Context, id string) (*viewEntry, error) {
	v := s.view
	v.mu.Lock()
	if e := v.entries[id]; v.live && e != nil && e.fresh {
		v.mu.Unlock()
		return e, nil
	}
	start := v.seq
	v.mu.Unlock()
	return s.fetchOne(ctx, id, start)
}

// fetchOne reads one container and its task from containerd, and keeps
// them in the view unless it changed since seq start.
func (s *Service) fetchOne(ctx context.Context, id string, start uint64) (*viewEntry, error) {
	c, err := s.containerStore().Get(ctx, id)
	if errdefs.IsNotFound(err) {
		s.view.install(id, &viewEntry{gone: true}, start)
		s.listed.Delete(id)
		return &viewEntry{gone: true}, nil
	}
	if err != nil {
		return nil, err
	}
	proc, err := s.taskState(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	e := s.viewEntryOf(c, proc)
	s.view.install(id, e, start)
	return e, nil
}

// install keeps f, read from containerd after seq start, as id's entry
// unless id or the whole view was invalidated since.
func (v *view) install(id string, f *viewEntry, start uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entries[id]
	if !v.live || v.allAt > start || (e != nil && e.dirtyAt > start) {
		return // changed again meanwhile: stays dirty
	}
	if e == nil && !v.loaded {
		return // the view does not hold every container yet
	}
	if f.gone {
		delete(v.entries, id)
		return
	}
	if e != nil {
		f.dirtyAt = e.dirtyAt
	}
	f.fresh = true
	v.entries[id] = f
}

func (s *Service) viewEntryOf(c containers.Container, proc *tasktypes.Process) *viewEntry {
	info, err := s.listedInfoOf(c)
	if err != nil {
		info = nil // not berth's: List skips it
	}
	c.Spec = nil
	return &viewEntry{c: c, proc: proc, info: info}
}

// snapshotFull reads every container and task from containerd, and fills
// the view with them unless something changed meanwhile.
func (s *Service) snapshotFull(ctx context.Context) ([]listedContainer, error) {
	v := s.view
	v.mu.Lock()
	start := v.seq
	v.mu.Unlock()
	list, err := s.containerStore().List(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.taskClient().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, t := range resp.Tasks {
		procs[t.ID] = t
	}
	out := make([]listedContainer, 0, len(list))
	entries := make(map[string]*viewEntry, len(list))
	for _, c := range list {
		e := s.viewEntryOf(c, procs[c.ID])
		e.fresh = true
		entries[c.ID] = e
		out = append(out, listedContainer{c: e.c, proc: e.proc, info: e.info})
	}
	s.forgetListed(entries)

	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.live || v.allAt > start {
		return out, nil // not to be kept: the stream is not confirmed, or was lost meanwhile
	}
	for id, old := range v.entries {
		if old.dirtyAt > start {
			// Changed during the read (or created): read it again.
			e := entries[id]
			if e == nil {
				e = &viewEntry{}
				entries[id] = e
			}
			e.dirtyAt, e.fresh = old.dirtyAt, false
		}
	}
	v.entries, v.loaded = entries, true
	return out, nil
}

// forgetListed drops the decoded configs of containers removed since.
func (s *Service) forgetListed(present map[string]*viewEntry) {
	s.listed.Range(func(k, _ any) bool {
		if present[k.(string)] == nil {
			s.listed.Delete(k)
		}
		return true
	})
}

// viewEvent marks dirty what a containerd event says has changed. Events
// of exec processes change neither a container nor its task's state.
func (v *view) event(e any) {
	switch e := e.(type) {
	case *apievents.ContainerCreate:
		v.invalidate(e.ID)
	case *apievents.ContainerUpdate:
		v.invalidate(e.ID)
	case *apievents.ContainerDelete:
		v.invalidate(e.ID)
	case *apievents.TaskExit:
		if e.ID == e.ContainerID || e.ID == "" {
			v.invalidate(e.ContainerID)
		}
	case *apievents.TaskExecAdded, *apievents.TaskExecStarted, *apievents.TaskIO:
	case interface{ GetContainerID() string }:
		v.invalidate(e.GetContainerID())
	default:
		v.invalidateAll()
	}
}

// syncView publishes the sync event until the view is live or ctx ends:
// a publish may come before containerd has set the subscription up.
func (s *Service) syncView(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if err := s.client.EventService().Publish(ctx, viewSyncTopic, &apievents.ContainerUpdate{}); err != nil && ctx.Err() == nil {
			s.log.Debug("publishing the view's sync event", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.view.mu.Lock()
		live := s.view.live
		s.view.mu.Unlock()
		if live {
			return
		}
	}
}

// containerStore is containerd's container store for the service: every
// write marks the container dirty in the view. The service writes
// containers only through it (TestWritesGoThroughTheView).
func (s *Service) containerStore() containers.Store {
	return viewedStore{Store: s.client.ContainerService(), v: s.view}
}

// taskClient is containerd's task service for the service: every call that
// changes a task (or reports its exit) marks its container dirty.
func (s *Service) taskClient() tasks.TasksClient {
	return viewedTasks{TasksClient: s.client.TaskService(), v: s.view}
}

type viewedStore struct {
	containers.Store
	v *view
}

func (w viewedStore) Create(ctx context.Context, c containers.Container) (containers.Container, error) {
	defer w.v.invalidate(c.ID)
	return w.Store.Create(ctx, c)
}

func (w viewedStore) Update(ctx context.Context, c containers.Container, paths ...string) (containers.Container, error) {
	defer w.v.invalidate(c.ID)
	return w.Store.Update(ctx, c, paths...)
}

func (w viewedStore) Delete(ctx context.Context, id string) error {
	defer w.v.invalidate(id)
	return w.Store.Delete(ctx, id)
}

type viewedTasks struct {
	tasks.TasksClient
	v *view
}

func (w viewedTasks) Create(ctx context.Context, in *tasks.CreateTaskRequest, opts ...grpc.CallOption) (*tasks.CreateTaskResponse, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Create(ctx, in, opts...)
}

func (w viewedTasks) Start(ctx context.Context, in *tasks.StartRequest, opts ...grpc.CallOption) (*tasks.StartResponse, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Start(ctx, in, opts...)
}

func (w viewedTasks) Delete(ctx context.Context, in *tasks.DeleteTaskRequest, opts ...grpc.CallOption) (*tasks.DeleteResponse, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Delete(ctx, in, opts...)
}

func (w viewedTasks) Kill(ctx context.Context, in *tasks.KillRequest, opts ...grpc.CallOption) (*emptypb.Empty, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Kill(ctx, in, opts...)
}

func (w viewedTasks) Pause(ctx context.Context, in *tasks.PauseTaskRequest, opts ...grpc.CallOption) (*emptypb.Empty, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Pause(ctx, in, opts...)
}

func (w viewedTasks) Resume(ctx context.Context, in *tasks.ResumeTaskRequest, opts ...grpc.CallOption) (*emptypb.Empty, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Resume(ctx, in, opts...)
}

func (w viewedTasks) Update(ctx context.Context, in *tasks.UpdateTaskRequest, opts ...grpc.CallOption) (*emptypb.Empty, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Update(ctx, in, opts...)
}

func (w viewedTasks) Checkpoint(ctx context.Context, in *tasks.CheckpointTaskRequest, opts ...grpc.CallOption) (*tasks.CheckpointTaskResponse, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Checkpoint(ctx, in, opts...)
}

func (w viewedTasks) Wait(ctx context.Context, in *tasks.WaitRequest, opts ...grpc.CallOption) (*tasks.WaitResponse, error) {
	defer w.v.invalidate(in.ContainerID)
	return w.TasksClient.Wait(ctx, in, opts...)
}

// Connected reports whether the service's subscription to containerd's
// events is in place (a sync event came back through it, and it has not
// ended since).
func (s *Service) Connected() bool {
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	return s.view.live
}

// ListFromMemory reports whether List is served from the in-memory view:
// the event stream that keeps it current is in place and a first List has
// read every container.
func (s *Service) ListFromMemory() bool {
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	return s.view.live && s.view.loaded
}
