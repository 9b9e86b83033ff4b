package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Services is the service noun (*service.Service).
type Services = api.Services

// serviceRoutes serves /services and /tasks over the service noun. berth's
// service types are Docker swarm's field for field (same JSON names), so
// the translation is a JSON round trip, except for mounts (berth's flat
// MountSpec) and for what berth does not honour, which is refused by name.
func (s *Server) serviceRoutes() {
	s.handle(http.MethodGet, "/services", s.inServices(s.serviceList))
	s.handle(http.MethodPost, "/services/create", s.inServices(s.serviceCreate))
	s.handle(http.MethodGet, "/services/{id}", s.inServices(s.serviceInspect))
	s.handle(http.MethodPost, "/services/{id}/update", s.inServices(s.serviceUpdate))
	s.handle(http.MethodDelete, "/services/{id}", s.inServices(s.serviceRemove))
	s.handle(http.MethodGet, "/services/{id}/logs", s.inServices(s.serviceLogs))
	s.handle(http.MethodGet, "/tasks", s.inServices(s.taskList))
	s.handle(http.MethodGet, "/tasks/{id}", s.inServices(s.taskInspect))
	s.handle(http.MethodGet, "/tasks/{id}/logs", s.inServices(s.taskLogs))
}

// inServices is inCluster for the service endpoints (501 on an engine
// built without services).
func (s *Server) inServices(h handlerFunc) handlerFunc {
	return s.inCluster(func(w http.ResponseWriter, r *http.Request, v map[string]string) error {
		if s.b.Services == nil {
			return statusError{http.StatusNotImplemented, "services are not served by this berthd"}
		}
		return h(w, r, v)
	})
}

// toJSON converts between berth's and Docker's types by their shared JSON
// names.
func toJSON(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// serviceSpecFrom decodes a Docker ServiceSpec into berth's, refusing the
// settings berth does not honour (named by their JSON path).
func serviceSpecFrom(w http.ResponseWriter, r *http.Request) (stypes.ServiceSpec, error) {
	var d swarm.ServiceSpec
	var out stypes.ServiceSpec
	if err := decodeJSON(w, r, &d, false); err != nil {
		return out, err
	}
	var mounts []container.MountSpec
	if cs := d.TaskTemplate.ContainerSpec; cs != nil {
		for _, m := range cs.Mounts {
			ms, err := mountSpec(m)
			if err != nil {
				return out, err
			}
			mounts = append(mounts, ms)
		}
		cs.Mounts = nil
	} else if d.TaskTemplate.PluginSpec == nil && d.TaskTemplate.NetworkAttachmentSpec == nil {
		return out, invalid("ContainerSpec must not be nil")
	}
	// The docker CLI fills the platforms from the registry's answer; berth's
	// nodes all run the platform of the machine, so they are not checked.
	if p := d.TaskTemplate.Placement; p != nil {
		p.Platforms = nil
	}
	if d.TaskTemplate.Runtime == swarm.RuntimeContainer {
		d.TaskTemplate.Runtime = ""
	}
	if err := toJSON(d, &out); err != nil {
		return out, invalid("service spec: %v", err)
	}
	var back swarm.ServiceSpec
	if err := toJSON(out, &back); err != nil {
		return out, err
	}
	if lost := jsonLoss(d, back); len(lost) > 0 {
		return out, unsupported("the service settings " + strings.Join(lost, ", ") + " (see docs/docker-api.md)")
	}
	if out.TaskTemplate.ContainerSpec != nil {
		out.TaskTemplate.ContainerSpec.Mounts = mounts
	}
	return out, nil
}

// jsonLoss names the fields set in a (JSON paths, zero values ignored)
// that are missing or different in b.
func jsonLoss(a, b any) []string {
	var ga, gb any
	ba, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	_ = json.Unmarshal(ba, &ga)
	_ = json.Unmarshal(bb, &gb)
	var lost []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		if isZeroJSON(x) {
			return
		}
		switch xv := x.(type) {
		case map[string]any:
			yv, _ := y.(map[string]any)
			for k, v := range xv {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, v, yv[k])
			}
		case []any:
			yv, _ := y.([]any)
			for i, v := range xv {
				var yi any
				if i < len(yv) {
					yi = yv[i]
				}
				walk(path, v, yi)
			}
		default:
			xb, _ := json.Marshal(x)
			yb, _ := json.Marshal(y)
			if !bytes.Equal(xb, yb) && !slices.Contains(lost, path) {
				lost = append(lost, path)
			}
		}
	}
	walk("", ga, gb)
	sort.Strings(lost)
	return lost
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		for _, e := range x {
			if !isZeroJSON(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range x {
			if !isZeroJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// dockerMounts are berth's mounts as Docker's.
func dockerMounts(ms []container.MountSpec) []mount.Mount {
	var out []mount.Mount
	for _, m := range ms {
		dm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case "bind":
			if m.BindPropagation != "" {
				dm.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(m.BindPropagation)}
			}
		case "volume":
			if m.VolumeNoCopy || m.Subpath != "" {
				dm.VolumeOptions = &mount.VolumeOptions{NoCopy: m.VolumeNoCopy, Subpath: m.Subpath}
			}
		case "image":
			if m.Subpath != "" {
				dm.ImageOptions = &mount.ImageOptions{Subpath: m.Subpath}
			}
		case "tmpfs":
			if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
				dm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
			}
		}
		out = append(out, dm)
	}
	return out
}

// dockerTaskSpec fixes up what the JSON round trip cannot carry.
func dockerTaskSpec(b stypes.TaskSpec, d *swarm.TaskSpec) {
	if b.ContainerSpec != nil && d.ContainerSpec != nil {
		d.ContainerSpec.Mounts = dockerMounts(b.ContainerSpec.Mounts)
	}
}

func dockerService(b stypes.Service) (swarm.Service, error) {
	// Mounts do not survive the round trip: clear them on a copy.
	c := b
	c.Spec.TaskTemplate = stripMounts(b.Spec.TaskTemplate)
	if b.PreviousSpec != nil {
		p := *b.PreviousSpec
		p.TaskTemplate = stripMounts(p.TaskTemplate)
		c.PreviousSpec = &p
	}
	var d swarm.Service
	if err := toJSON(c, &d); err != nil {
		return d, err
	}
	dockerTaskSpec(b.Spec.TaskTemplate, &d.Spec.TaskTemplate)
	if b.PreviousSpec != nil && d.PreviousSpec != nil {
		dockerTaskSpec(b.PreviousSpec.TaskTemplate, &d.PreviousSpec.TaskTemplate)
	}
	return d, nil
}

func stripMounts(t stypes.TaskSpec) stypes.TaskSpec {
	if t.ContainerSpec != nil {
		cs := *t.ContainerSpec
		cs.Mounts = nil
		t.ContainerSpec = &cs
	}
	return t
}

func dockerTask(b stypes.Task) (swarm.Task, error) {
	c := b
	c.Spec = stripMounts(b.Spec)
	var d swarm.Task
	if err := toJSON(c, &d); err != nil {
		return d, err
	}
	dockerTaskSpec(b.Spec, &d.Spec)
	for i, na := range b.NetworksAttachments {
		if i < len(d.NetworksAttachments) {
			d.NetworksAttachments[i].Network.Spec.Name = na.Network.Name
		}
	}
	return d, nil
}

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	svcs, err := s.b.Services.List(r.Context(), stypes.ListOptions{Filters: filters, Status: boolValue(r, "status")})
	if err != nil {
		return err
	}
	out := make([]swarm.Service, 0, len(svcs))
	for _, sv := range svcs {
		d, err := dockerService(sv)
		if err != nil {
			return err
		}
		out = append(out, d)
	}
	return writeJSON(w, http.StatusOK, out)
}

// serviceCreate is POST /services/create. X-Registry-Auth is not used:
// each node pulls the image with its own credentials.
func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	spec, err := serviceSpecFrom(w, r)
	if err != nil {
		return err
	}
	resp, err := s.b.Services.Create(r.Context(), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: resp.ID, Warnings: resp.Warnings})
}

func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	sv, err := s.b.Services.Inspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	d, err := dockerService(*sv)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// serviceUpdate is POST /services/{id}/update?version=N[&rollback=previous].
func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	raw := r.URL.Query().Get("version")
	version, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return invalid("invalid service version '%s': %v", raw, err)
	}
	var opts stypes.UpdateOptions
	switch rb := r.URL.Query().Get("rollback"); rb {
	case "":
	case "previous":
		opts.Rollback = true
	default:
		return invalid("unrecognized rollback option %s", rb)
	}
	spec, err := serviceSpecFrom(w, r)
	if err != nil && !opts.Rollback {
		return err
	}
	warnings, err := s.b.Services.Update(r.Context(), v["id"], version, spec, opts)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: warnings})
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.b.Services.Remove(r.Context(), v["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// taskList is GET /tasks. The docker CLI's progress display asks for
// `_up-to-date=true` (tasks made from the service's current spec): berth
// answers it here, comparing each task's spec with its service's.
func (s *Server) taskList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	upToDate := false
	if vs, ok := filters["_up-to-date"]; ok {
		upToDate = slices.Contains(vs, "true") || slices.Contains(vs, "1")
		delete(filters, "_up-to-date")
	}
	// label: a task carries its service's labels too, as swarm's do
	// (docker stack ps filters tasks by the stack's label).
	labels := filters["label"]
	delete(filters, "label")
	tasks, err := s.b.Services.Tasks(r.Context(), stypes.TaskListOptions{Filters: filters})
	if err != nil {
		return err
	}
	specs := map[string][]byte{}
	svcLabels := map[string]map[string]string{}
	out := make([]swarm.Task, 0, len(tasks))
	for _, t := range tasks {
		if len(labels) > 0 {
			sl, ok := svcLabels[t.ServiceID]
			if !ok {
				if sv, err := s.b.Services.Inspect(r.Context(), t.ServiceID); err == nil {
					sl = sv.Spec.Labels
				}
				svcLabels[t.ServiceID] = sl
			}
			if !labelsMatch(labels, t.Labels, sl) {
				continue
			}
		}
		if upToDate {
			cur, ok := specs[t.ServiceID]
			if !ok {
				if sv, err := s.b.Services.Inspect(r.Context(), t.ServiceID); err == nil {
					cur, _ = json.Marshal(sv.Spec.TaskTemplate)
				}
				specs[t.ServiceID] = cur
			}
			mine, _ := json.Marshal(t.Spec)
			if !bytes.Equal(mine, cur) {
				continue
			}
		}
		d, err := dockerTask(t)
		if err != nil {
			return err
		}
		out = append(out, d)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) taskInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	t, err := s.b.Services.TaskInspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	d, err := dockerTask(*t)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	sv, err := s.b.Services.Inspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	return s.swarmLogs(w, r, sv.ID, sv)
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	t, err := s.b.Services.TaskInspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	sv, err := s.b.Services.Inspect(r.Context(), t.ServiceID)
	if err != nil {
		return err
	}
	return s.swarmLogs(w, r, t.ID, sv)
}

// swarmLogs streams the logs of ref (a service or a task of sv) as dockerd
// does: stdcopy frames (raw with a tty), each line preceded, with
// details=1, by its context (com.docker.swarm.node.id, .service.id,
// .task.id), which the docker CLI turns into its "name.slot.task@node |"
// prefix.
func (s *Server) swarmLogs(w http.ResponseWriter, r *http.Request, ref string, sv *stypes.Service) error {
	q := r.URL.Query()
	o := container.LogOptions{Follow: boolValue(r, "follow"), Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), Timestamps: boolValue(r, "timestamps"), Tail: -1}
	if !o.Stdout && !o.Stderr {
		return invalid("Bad parameters: you must choose at least one stream")
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := intValue(r, "tail", -1)
		if err != nil {
			return err
		}
		if n >= 0 {
			o.Tail = n
		}
	}
	now := time.Now()
	var err error
	if o.Since, err = parseTime(q.Get("since"), now); err != nil {
		return err
	}
	details := boolValue(r, "details")
	tty := sv.Spec.TaskTemplate.ContainerSpec != nil && sv.Spec.TaskTemplate.ContainerSpec.TTY
	return serveLog(w, r, tty, o.Follow, func(ctx context.Context, emit func(string, []byte) error) error {
		return s.b.Services.Logs(ctx, ref, o, func(e stypes.LogEntry) error {
			var line []byte
			if o.Timestamps {
				line = append(line, e.Time.UTC().Format(time.RFC3339Nano)+" "...)
			}
			if details {
				line = append(line, fmt.Sprintf("%s=%s,%s=%s,%s=%s ",
					url.QueryEscape("com.docker.swarm.node.id"), url.QueryEscape(e.NodeID),
					url.QueryEscape("com.docker.swarm.service.id"), url.QueryEscape(sv.ID),
					url.QueryEscape("com.docker.swarm.task.id"), url.QueryEscape(e.TaskID))...)
			}
			return emit(e.Stream, append(line, e.Line...))
		})
	})
}

// labelsMatch: every filter (key or key=value) holds in one of the sets.
func labelsMatch(filters []string, sets ...map[string]string) bool {
	for _, f := range filters {
		k, v, hasVal := strings.Cut(f, "=")
		found := false
		for _, set := range sets {
			if got, ok := set[k]; ok && (!hasVal || got == v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
