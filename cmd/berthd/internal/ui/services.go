package ui

import (
	"fmt"
	"net/http"
	"sort"
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

func (s *Server) servicesData(r *http.Request) (map[string]any, error) {
	active, err := s.inCluster(r)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Active": active}
	if active {
		svcs, err := s.b.Services.List(r.Context(), stypes.ListOptions{Status: true})
		if err != nil {
			return nil, err
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
		d["Services"] = rows
	}
	return d, nil
}

func (s *Server) servicesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.servicesData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "services.html", "Services", d)
	return nil
}

// taskRow is one task of a service, with its node's hostname.
type taskRow struct {
	stypes.Task
	Name string // service.slot (or service.node for a global service)
	Node string
}

func (s *Server) serviceData(r *http.Request) (map[string]any, error) {
	active, err := s.inCluster(r)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, fmt.Errorf("this node is in no cluster: %w", errInvalid)
	}
	sv, err := s.b.Services.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	tasks, err := s.b.Services.Tasks(r.Context(), stypes.TaskListOptions{Filters: map[string][]string{"service": {sv.ID}}})
	if err != nil {
		return nil, err
	}
	nodes, err := s.b.Cluster.NodeList(r.Context())
	if err != nil {
		return nil, err
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
	return map[string]any{"Service": sv, "Mode": mode, "Tasks": rows}, nil
}

func (s *Server) servicePage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.serviceData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "service.html", "Service "+d["Service"].(*stypes.Service).Spec.Name, d)
	return nil
}

// liveServices streams the list again after each service event (a
// service made, changed or removed, a task's new state).
func (s *Server) liveServices(w http.ResponseWriter, r *http.Request) error {
	return s.liveServiceFragment(w, r, nil, "service-list", s.servicesData)
}

// liveService streams a service's page body (its settings and tasks)
// again after each of its events.
func (s *Server) liveService(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.serviceData(r); err != nil {
		return err
	}
	return s.liveServiceFragment(w, r, []string{r.PathValue("id")}, "service-body", s.serviceData)
}

// liveServiceFragment sends tmpl rendered from data as the event "list"
// (app.js swaps it into the [data-live] element) at once, then after each
// burst of service events (of the services named, or all).
func (s *Server) liveServiceFragment(w http.ResponseWriter, r *http.Request, ids []string, tmpl string, data func(*http.Request) (map[string]any, error)) error {
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
		d, err := data(r)
		if err != nil {
			return err
		}
		return st.fragment("list", tmpl, d, s)
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
