package ui

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/berthproject/berth/pkg/types/cluster"
	"github.com/berthproject/berth/pkg/types/events"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// serviceRoutes: the cluster's services and each service's tasks (berth
// service ls / service ps), read from the service noun.
func (s *Server) serviceRoutes() {
	s.handle("GET /services", s.servicesPage)
	s.handle("GET /services/{id}", s.servicePage)
	s.handle("GET /live/services", s.liveServices)
	s.handle("GET /live/services/{id}", s.liveService)
}

// inCluster reports whether the services pages have something to show.
func (s *Server) inCluster(r *http.Request) (bool, error) {
	if s.b.Cluster == nil || s.b.Services == nil {
		return false, nil
	}
	info, err := s.b.Cluster.Info(r.Context())
	if err != nil {
		return false, err
	}
	return info.State == "active", nil
}

// serviceRow is one service in the list.
type serviceRow struct {
	stypes.Service
	Mode    string
	Running uint64
	Desired uint64
}

// servicesView is the services page: the list when in a cluster.
type servicesView struct {
	Active   bool
	Services []serviceRow
}

func (s *Server) servicesData(r *http.Request) (servicesView, error) {
	active, err := s.inCluster(r)
	if err != nil {
		return servicesView{}, err
	}
	d := servicesView{Active: active}
	if active {
		svcs, err := s.b.Services.List(r.Context(), stypes.ListOptions{Status: true})
		if err != nil {
			return servicesView{}, err
		}
		rows := make([]serviceRow, 0, len(svcs))
		for _, sv := range svcs {
			row := serviceRow{Service: sv, Mode: "replicated"}
			if sv.Spec.Mode.Global != nil {
				row.Mode = "global"
			}
			if st := sv.ServiceStatus; st != nil {
				row.Running, row.Desired = st.RunningTasks, st.DesiredTasks
			}
			rows = append(rows, row)
		}
		d.Services = rows
	}
	return d, nil
}

func (s *Server) servicesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.servicesData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Services", func(h *htmlWriter) { servicesBody(h, d) })
	return nil
}

// taskRow is one task of a service, with its node's hostname.
type taskRow struct {
	stypes.Task
	Name string // service.slot (or service.node for a global service)
	Node string
}

// serviceView is a service's page.
type serviceView struct {
	Service *stypes.Service
	Mode    string
	Tasks   []taskRow
}

func (s *Server) serviceData(r *http.Request) (serviceView, error) {
	active, err := s.inCluster(r)
	if err != nil {
		return serviceView{}, err
	}
	if !active {
		return serviceView{}, fmt.Errorf("this node is in no cluster: %w", errInvalid)
	}
	sv, err := s.b.Services.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return serviceView{}, err
	}
	tasks, err := s.b.Services.Tasks(r.Context(), stypes.TaskListOptions{Filters: map[string][]string{"service": {sv.ID}}})
	if err != nil {
		return serviceView{}, err
	}
	nodes, err := s.b.Cluster.NodeList(r.Context())
	if err != nil {
		return serviceView{}, err
	}
	byID := map[string]cluster.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	rows := make([]taskRow, 0, len(tasks))
	for _, t := range tasks {
		row := taskRow{Task: t, Node: byID[t.NodeID].Hostname}
		if row.Node == "" && t.NodeID != "" {
			row.Node = t.NodeID
		}
		if t.Slot > 0 {
			row.Name = fmt.Sprintf("%s.%d", sv.Spec.Name, t.Slot)
		} else {
			row.Name = sv.Spec.Name + "." + row.Node
		}
		rows = append(rows, row)
	}
	// Running ones first, then by name, newest first within a name.
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if (a.DesiredState == stypes.TaskStateRunning) != (b.DesiredState == stypes.TaskStateRunning) {
			return a.DesiredState == stypes.TaskStateRunning
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	mode := "replicated"
	if sv.Spec.Mode.Global != nil {
		mode = "global"
	}
	return serviceView{Service: sv, Mode: mode, Tasks: rows}, nil
}

func (s *Server) servicePage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.serviceData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Service "+d.Service.Spec.Name, func(h *htmlWriter) { serviceBody(h, d) })
	return nil
}

// liveServices streams the list again after each service event (a
// service made, changed or removed, a task's new state).
func (s *Server) liveServices(w http.ResponseWriter, r *http.Request) error {
	return s.liveServiceFragment(w, r, nil, func(r *http.Request) (func(*htmlWriter), error) {
		d, err := s.servicesData(r)
		return func(h *htmlWriter) { serviceList(h, d) }, err
	})
}

// liveService streams a service's page body (its settings and tasks)
// again after each of its events.
func (s *Server) liveService(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.serviceData(r); err != nil {
		return err
	}
	return s.liveServiceFragment(w, r, []string{r.PathValue("id")}, func(r *http.Request) (func(*htmlWriter), error) {
		d, err := s.serviceData(r)
		return func(h *htmlWriter) { serviceSettings(h, d) }, err
	})
}

// liveServiceFragment sends the HTML that view makes as the event "list"
// (app.js swaps it into the [data-live] element) at once, then after each
// burst of service events (of the services named, or all).
func (s *Server) liveServiceFragment(w http.ResponseWriter, r *http.Request, ids []string, view func(*http.Request) (func(*htmlWriter), error)) error {
	ctx := r.Context()
	f := map[string][]string{"type": {events.TypeService}}
	if ids != nil {
		f["service"] = ids
	}
	ev, err := s.b.Events.Subscribe(ctx, eventsFilter(f))
	if err != nil {
		return err
	}
	st, err := newStream(w, r)
	if err != nil {
		return err
	}
	refresh := func() error {
		body, err := view(r)
		if err != nil {
			return err
		}
		return st.fragment("list", body)
	}
	if err := refresh(); err != nil {
		return nil
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-ev:
			if !ok {
				return nil
			}
			if debounce == nil {
				debounce = time.After(150 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			for len(ev) > 0 {
				<-ev
			}
			if err := refresh(); err != nil {
				return nil
			}
		}
	}
}

func servicesBody(w *htmlWriter, d servicesView) {
	w.raw(`
<h1>Services</h1>
`)
	if !d.Active {
		w.raw(`<p>This berthd is in no cluster: services run on a cluster of berthd nodes. Start one with <code>berth cluster init</code>, or join one with <code>berth cluster join</code> (see docs/cluster.md).</p>
`)
	} else {
		w.raw(`<div id="list" data-live="/live/services">`)
		serviceList(w, d)
		w.raw(`</div>`)
	}
	w.raw("\n")
}

// serviceList is the cluster's services (the live stream sends it again
// after each service event).
func serviceList(w *htmlWriter, d servicesView) {
	if len(d.Services) == 0 {
		w.raw(`<p>No services. Create one with <code>berth service create</code> or <code>docker service create</code>.</p>
`)
		return
	}
	w.raw(`<table><caption>Services</caption><thead><tr><th scope="col">Name</th><th scope="col">Mode</th><th scope="col">Replicas</th><th scope="col">Image</th><th scope="col">Ports</th><th scope="col">Updated</th></tr></thead><tbody>
`)
	for _, sv := range d.Services {
		w.raw(`<tr`)
		w.attr("data-service", sv.Spec.Name)
		w.raw(`><td><a`)
		w.url("href", route("/services/{}", sv.ID))
		w.raw(`>`)
		w.text(sv.Spec.Name)
		w.raw(`</a> <code class="sub">`)
		w.text(shortID(sv.ID))
		w.raw(`</code></td><td>`)
		w.text(sv.Mode)
		w.raw(`</td>
<td><span class="state `)
		if sv.Running == sv.Desired && sv.Desired > 0 {
			w.raw(`running`)
		} else {
			w.raw(`exited`)
		}
		w.raw(`">`)
		w.text(strconv.FormatUint(sv.Running, 10) + "/" + strconv.FormatUint(sv.Desired, 10))
		w.raw(`</span></td>
<td>`)
		if cs := sv.Spec.TaskTemplate.ContainerSpec; cs != nil {
			w.text(cs.Image)
		}
		w.raw(`</td>
<td>`)
		for _, p := range sv.Endpoint.Ports {
			if p.PublishedPort != 0 {
				w.num(int64(p.PublishedPort))
				w.raw(`→`)
			}
			w.num(int64(p.TargetPort))
			w.raw(`/`)
			w.text(p.Protocol)
			w.raw(` `)
		}
		w.raw(`</td><td>`)
		w.text(ago(sv.UpdatedAt))
		w.raw(`</td></tr>
`)
	}
	w.raw(`</tbody></table>`)
}

func serviceBody(w *htmlWriter, d serviceView) {
	sv := d.Service
	w.raw(`
<p><a href="/services">Services</a></p>
<h1>`)
	w.text(sv.Spec.Name)
	w.raw(`</h1>
<div id="service"`)
	w.url("data-live", route("/live/services/{}", sv.ID))
	w.raw(`>`)
	serviceSettings(w, d)
	w.raw(`</div>
`)
}

// serviceSettings is a service's page body: its settings and tasks (the
// live stream sends it again after each of its events).
func serviceSettings(w *htmlWriter, d serviceView) {
	sv := d.Service
	w.raw(`<dl class="kv">
<dt>ID</dt><dd><code>`)
	w.text(sv.ID)
	w.raw(`</code></dd>
<dt>Mode</dt><dd>`)
	w.text(d.Mode)
	if rep := sv.Spec.Mode.Replicated; rep != nil {
		w.raw(` · `)
		w.text(strconv.FormatUint(rep.Replicas, 10))
		w.raw(` replicas`)
	}
	w.raw(`</dd>
<dt>Image</dt><dd>`)
	if cs := sv.Spec.TaskTemplate.ContainerSpec; cs != nil {
		w.text(cs.Image)
	}
	w.raw(`</dd>
`)
	if ports := sv.Endpoint.Ports; len(ports) > 0 {
		w.raw(`<dt>Ports</dt><dd>`)
		for _, p := range ports {
			w.num(int64(p.PublishedPort))
			w.raw(`→`)
			w.num(int64(p.TargetPort))
			w.raw(`/`)
			w.text(p.Protocol)
			w.raw(` (`)
			w.text(p.PublishMode)
			w.raw(`) `)
		}
		w.raw(`</dd>`)
	}
	w.raw("\n")
	if u := sv.UpdateStatus; u != nil {
		w.raw(`<dt>Update</dt><dd>`)
		w.text(u.State)
		if u.Message != "" {
			w.raw(` · `)
			w.text(u.Message)
		}
		w.raw(`</dd>`)
	}
	w.raw(`
<dt>Created</dt><dd>`)
	w.text(ago(sv.CreatedAt))
	w.raw(`</dd>
</dl>
<div id="tasks">`)
	taskList(w, d.Tasks)
	w.raw(`</div>`)
}

func taskList(w *htmlWriter, tasks []taskRow) {
	w.raw(`<table><caption>Tasks</caption><thead><tr><th scope="col">Task</th><th scope="col">Node</th><th scope="col">Desired state</th><th scope="col">Current state</th><th scope="col">Error</th><th scope="col">Container</th></tr></thead><tbody>
`)
	for _, t := range tasks {
		w.raw(`<tr`)
		w.attr("data-task", t.Name)
		w.attr("data-state", t.Status.State)
		w.raw(`><td>`)
		w.text(t.Name)
		w.raw(` <code class="sub">`)
		w.text(shortID(t.ID))
		w.raw(`</code></td><td>`)
		w.text(t.Node)
		w.raw(`</td><td>`)
		w.text(t.DesiredState)
		w.raw(`</td>
<td><span class="state `)
		if t.Status.State == stypes.TaskStateRunning {
			w.raw(`running`)
		} else {
			w.raw(`exited`)
		}
		w.raw(`">`)
		w.text(t.Status.State)
		w.raw(`</span> <span class="sub">`)
		w.text(ago(t.Status.Timestamp))
		w.raw(`</span>`)
		if t.Status.Health != "" {
			w.raw(` · `)
			w.text(t.Status.Health)
		}
		w.raw(`</td>
<td>`)
		w.text(t.Status.Err)
		w.raw(`</td><td>`)
		if cs := t.Status.ContainerStatus; cs != nil {
			w.raw(`<code>`)
			w.text(shortID(cs.ContainerID))
			w.raw(`</code>`)
		}
		w.raw(`</td></tr>
`)
	}
	if len(tasks) == 0 {
		w.raw(`<tr><td colspan="6">No tasks.</td></tr>`)
	}
	w.raw(`</tbody></table>`)
}
