package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/berthproject/berth/pkg/types/cluster"
	"github.com/berthproject/berth/pkg/types/container"
)

func (s *Server) routes() {
	s.handle("GET /{$}", s.containersPage)
	s.handle("GET /fragments/containers", s.containersFragment)
	s.handle("GET /live/containers", s.liveContainers)
	s.handle("POST /containers/{id}/{action}", s.containerAction)
	s.handle("GET /containers/{id}", s.containerPage)
	s.handle("GET /fragments/containers/{id}/head", s.containerHead)
	s.handle("GET /containers/{id}/logs.txt", s.logsDownload)
	s.handle("GET /live/containers/{id}/logs", s.liveLogs)
	s.handle("GET /live/containers/{id}/stats", s.liveStats)
	s.handle("GET /ws/containers/{id}/exec", s.execConsole)
	s.handle("GET /containers/{id}/files", s.filesFragment)
	s.handle("GET /containers/{id}/file", s.fileDownload)
	s.handle("POST /containers/{id}/files", s.fileUpload)
	s.imageRoutes()
	s.volumeRoutes()
	s.networkRoutes()
	s.handle("GET /builds", s.buildsPage)
	s.handle("POST /builds/prune", s.buildsPrune)
	s.handle("GET /cluster", s.clusterPage)
	s.handle("POST /cluster/nodes/{id}/availability", s.nodeAvailability)
	s.serviceRoutes()
	s.handle("GET /events", s.eventsPage)
	s.handle("GET /live/events", s.liveEvents)
}

// composeProject is the label Compose puts on its containers.
const composeProject = "com.docker.compose.project"

// row is one container on the first screen.
type row struct {
	container.Summary
	Name    string
	Project string
	Service string
}

type group struct {
	Project string
	Rows    []row
	Running int
}

type counts struct {
	Running, Stopped, Unhealthy, Paused int
	Images, Volumes, Networks           int
	Disk                                int64 // -1: not computed
}

func (s *Server) listGroups(ctx context.Context) ([]group, counts, error) {
	list, err := s.b.Containers.List(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, counts{}, err
	}
	var c counts
	byProject := map[string]*group{}
	for _, sum := range list {
		r := row{Summary: sum, Project: sum.Labels[composeProject], Service: sum.Labels["com.docker.compose.service"]}
		if len(sum.Names) > 0 {
			r.Name = strings.TrimPrefix(sum.Names[0], "/")
		}
		g := byProject[r.Project]
		if g == nil {
			g = &group{Project: r.Project}
			byProject[r.Project] = g
		}
		g.Rows = append(g.Rows, r)
		switch sum.State {
		case container.StatusRunning, container.StatusRestarting:
			c.Running++
			g.Running++
		case container.StatusPaused:
			c.Paused++
		default:
			c.Stopped++
		}
		if sum.Health == "unhealthy" {
			c.Unhealthy++
		}
	}
	groups := make([]group, 0, len(byProject))
	for _, g := range byProject {
		sort.Slice(g.Rows, func(i, j int) bool { return g.Rows[i].Name < g.Rows[j].Name })
		groups = append(groups, *g)
	}
	// Compose projects first, by name; lone containers last.
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i].Project, groups[j].Project
		if (a == "") != (b == "") {
			return b == ""
		}
		return a < b
	})
	return groups, c, nil
}

// fillCounts adds the counts of the other nouns; disk usage is costly (it
// walks volumes), so only when asked.
func (s *Server) fillCounts(ctx context.Context, c *counts, disk bool) {
	if imgs, err := s.b.Images.List(ctx, imageListOptions()); err == nil {
		c.Images = len(imgs)
	}
	if vols, err := s.b.Volumes.List(ctx, nil); err == nil {
		c.Volumes = len(vols)
	}
	if s.b.Networks != nil {
		if nets, err := s.b.Networks.List(ctx, nil); err == nil {
			c.Networks = len(nets)
		}
	}
	c.Disk = -1
	if disk {
		if du, err := s.b.System.DiskUsage(ctx); err == nil {
			c.Disk = 0
			for _, i := range du.Images {
				c.Disk += i.Size
			}
			for _, ct := range du.Containers {
				c.Disk += ct.Size
			}
			for _, v := range du.Volumes {
				c.Disk += v.Size
			}
		}
	}
}

func (s *Server) containersPage(w http.ResponseWriter, r *http.Request) error {
	groups, c, err := s.listGroups(r.Context())
	if err != nil {
		return err
	}
	s.fillCounts(r.Context(), &c, true)
	s.page(w, r, "containers.html", "Containers", map[string]any{"Groups": groups, "Counts": c})
	return nil
}

func (s *Server) containersFragment(w http.ResponseWriter, r *http.Request) error {
	groups, _, err := s.listGroups(r.Context())
	if err != nil {
		return err
	}
	s.render(w, "container-list", map[string]any{"Groups": groups})
	return nil
}

// containerAction is a button of the list or the container's page. The
// answer is empty: the change comes back through the live stream.
func (s *Server) containerAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	c := s.b.Containers
	var err error
	switch a := r.PathValue("action"); a {
	case "start":
		err = c.Start(ctx, id)
	case "stop":
		err = c.Stop(ctx, id, container.StopOptions{})
	case "restart":
		err = c.Restart(ctx, id, container.StopOptions{})
	case "pause":
		err = c.Pause(ctx, id)
	case "unpause":
		err = c.Unpause(ctx, id)
	case "kill":
		err = c.Kill(ctx, id, "")
	case "remove":
		err = c.Remove(ctx, id, container.RemoveOptions{Force: true})
		if err == nil && r.Header.Get("HX-Request") != "" && r.URL.Query().Get("redirect") != "" {
			w.Header().Set("HX-Location", "/")
		}
	default:
		return fmt.Errorf("unknown action %q: use start, stop, restart, pause, unpause, kill or remove: %w", a, errInvalid)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// statsSample is what a live stream sends for one container: figures the
// page prints as they are.
type statsSample struct {
	CPU    string  `json:"cpu"`
	Mem    string  `json:"mem"`
	CPUPct float64 `json:"cpuPct"`
	MemB   uint64  `json:"memB"`
	NetRx  uint64  `json:"netRx"`
	NetTx  uint64  `json:"netTx"`
	BlkR   uint64  `json:"blkR"`
	BlkW   uint64  `json:"blkW"`
	T      int64   `json:"t"` // unix seconds
}

// cpuPercent is Docker's CPU % between two samples.
func cpuPercent(prev, cur *container.Stats) float64 {
	if prev == nil || cur.SystemCPUUsage <= prev.SystemCPUUsage || cur.CPUUsage < prev.CPUUsage {
		return 0
	}
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = 1
	}
	return float64(cur.CPUUsage-prev.CPUUsage) / float64(cur.SystemCPUUsage-prev.SystemCPUUsage) * cpus * 100
}

func sample(prev, cur *container.Stats) statsSample {
	p := cpuPercent(prev, cur)
	return statsSample{CPU: fmt.Sprintf("%.1f%%", p), Mem: humanBytes(int64(cur.MemoryUsage)), CPUPct: p, MemB: cur.MemoryUsage,
		NetRx: cur.NetRx, NetTx: cur.NetTx, BlkR: cur.BlockRead, BlkW: cur.BlockWrite, T: cur.Read.Unix()}
}

// liveContainers streams the first screen's changes: the list (and the
// counts) again after each container event, and every two seconds the
// running containers' CPU and memory.
func (s *Server) liveContainers(w http.ResponseWriter, r *http.Request) error {
	st, err := newStream(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ev, err := s.b.Events.Subscribe(ctx, eventsFilter(nil))
	if err != nil {
		return err
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	prev := map[string]*container.Stats{}
	var running []string
	refresh := func(withCounts bool) error {
		groups, c, err := s.listGroups(ctx)
		if err != nil {
			return err
		}
		running = running[:0]
		for _, g := range groups {
			for _, r := range g.Rows {
				if r.State == container.StatusRunning {
					running = append(running, r.ID)
				}
			}
		}
		if err := st.fragment("list", "container-list", map[string]any{"Groups": groups}, s); err != nil {
			return err
		}
		if withCounts {
			s.fillCounts(ctx, &c, true)
			return st.fragment("counts", "counts", c, s)
		}
		return nil
	}
	if err := refresh(false); err != nil {
		return err
	}
	// Events come in bursts (create, attach, start): one refresh after
	// the burst.
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
			if err := refresh(true); err != nil {
				return nil
			}
		case <-tick.C:
			out := map[string]statsSample{}
			for _, id := range running {
				cur, err := s.b.Containers.Stats(ctx, id)
				if err != nil || !cur.Running {
					continue
				}
				out[id] = sample(prev[id], cur)
				prev[id] = cur
			}
			if err := st.json("stats", out); err != nil {
				return nil
			}
		}
	}
}

func (s *Server) containerData(r *http.Request) (map[string]any, error) {
	c, err := s.b.Containers.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(c.Name, "/")
	return map[string]any{"C": c, "JSON": string(js), "Name": name,
		"Row": row{Summary: container.Summary{ID: c.ID, State: c.State.Status}, Name: name}}, nil
}

func (s *Server) containerPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.containerData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "container.html", d["Name"].(string), d)
	return nil
}

// containerHead is the page's title line and buttons, after an action.
func (s *Server) containerHead(w http.ResponseWriter, r *http.Request) error {
	d, err := s.containerData(r)
	if err != nil {
		return err
	}
	s.render(w, "container-head", d)
	return nil
}

// liveStats streams one container's samples, every second, for its charts.
func (s *Server) liveStats(w http.ResponseWriter, r *http.Request) error {
	st, err := newStream(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev *container.Stats
	for {
		cur, err := s.b.Containers.Stats(ctx, id)
		if err != nil {
			return nil
		}
		if cur.Running {
			if err := st.json("stats", sample(prev, cur)); err != nil {
				return nil
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"ago": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return ago(v)
		case *time.Time:
			if v != nil {
				return ago(*v)
			}
		}
		return ""
	},
	"short": func(id string) string {
		id = strings.TrimPrefix(id, "sha256:")
		if len(id) > 12 {
			return id[:12]
		}
		return id
	},
	"trim": func(name string) string { return strings.TrimPrefix(name, "/") },
	"join": strings.Join,
	"portLink": func(p container.PortBinding) string {
		host := p.HostIP
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return fmt.Sprintf("http://%s:%d/", host, p.HostPort)
	},
	"availabilities": func() []string {
		return []string{cluster.AvailabilityActive, cluster.AvailabilityPause, cluster.AvailabilityDrain}
	},
	"canStart": func(state string) bool {
		return state == container.StatusCreated || state == container.StatusExited || state == container.StatusDead
	},
}

func humanBytes(n int64) string {
	if n < 0 {
		return "–"
	}
	return units.HumanSize(float64(n))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
