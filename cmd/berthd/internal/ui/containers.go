package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/docker/go-units"

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
	s.page(w, r, "Containers", func(h *htmlWriter) { containersBody(h, groups, c) })
	return nil
}

func (s *Server) containersFragment(w http.ResponseWriter, r *http.Request) error {
	groups, _, err := s.listGroups(r.Context())
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { containerList(h, groups) })
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
		if err := st.fragment("list", func(h *htmlWriter) { containerList(h, groups) }); err != nil {
			return err
		}
		if withCounts {
			s.fillCounts(ctx, &c, true)
			return st.fragment("counts", func(h *htmlWriter) { countsList(h, c) })
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

// containerView is a container's page.
type containerView struct {
	C    *container.Container
	JSON string // inspect's
	Name string
	Row  row // for the buttons
}

func (s *Server) containerData(r *http.Request) (containerView, error) {
	c, err := s.b.Containers.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return containerView{}, err
	}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return containerView{}, err
	}
	name := strings.TrimPrefix(c.Name, "/")
	return containerView{C: c, JSON: string(js), Name: name,
		Row: row{Summary: container.Summary{ID: c.ID, State: c.State.Status}, Name: name}}, nil
}

func (s *Server) containerPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.containerData(r)
	if err != nil {
		return err
	}
	s.page(w, r, d.Name, func(h *htmlWriter) { containerBody(h, d) })
	return nil
}

// containerHead is the page's title line and buttons, after an action.
func (s *Server) containerHead(w http.ResponseWriter, r *http.Request) error {
	d, err := s.containerData(r)
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { containerHeadline(h, d) })
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

// shortID is an ID's first 12 characters, without sha256:.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func canStart(state string) bool {
	return state == container.StatusCreated || state == container.StatusExited || state == container.StatusDead
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

// containersBody is the first screen: the counts, the filter and the list.
func containersBody(w *htmlWriter, groups []group, c counts) {
	w.raw(`
<h1>Containers</h1>
<section id="counts" aria-label="Summary" data-live-target>`)
	countsList(w, c)
	w.raw(`</section>
<div class="toolbar">
<label for="filter">Filter</label>
<input id="filter" type="search" placeholder="name, image, project, state" autocomplete="off" data-filter="#list">
</div>
<div id="list" data-live="/live/containers" data-live-target>`)
	containerList(w, groups)
	w.raw("</div>\n")
}

func countsList(w *htmlWriter, c counts) {
	w.raw(`<ul class="counts">
<li><span class="n" data-count="running">`)
	w.num(int64(c.Running))
	w.raw(`</span> running</li>
<li><span class="n" data-count="stopped">`)
	w.num(int64(c.Stopped))
	w.raw(`</span> stopped</li>
<li><span class="n`)
	if c.Unhealthy != 0 {
		w.raw(` bad`)
	}
	w.raw(`" data-count="unhealthy">`)
	w.num(int64(c.Unhealthy))
	w.raw(`</span> unhealthy</li>
<li><a href="/images"><span class="n" data-count="images">`)
	w.num(int64(c.Images))
	w.raw(`</span> images</a></li>
<li><a href="/volumes"><span class="n" data-count="volumes">`)
	w.num(int64(c.Volumes))
	w.raw(`</span> volumes</a></li>
<li><a href="/networks"><span class="n" data-count="networks">`)
	w.num(int64(c.Networks))
	w.raw(`</span> networks</a></li>
<li><span class="n" data-count="disk">`)
	w.text(humanBytes(c.Disk))
	w.raw(`</span> disk used</li>
</ul>`)
}

// containerList is the containers by Compose project (the live stream
// sends it again after each change).
func containerList(w *htmlWriter, groups []group) {
	if len(groups) == 0 {
		w.raw(`<p class="empty">No containers. Run one with <code>berth run -d busybox sleep 1d</code>.</p>`)
	}
	w.raw("\n")
	for _, g := range groups {
		w.raw(`<section class="group"`)
		if g.Project != "" {
			w.attr("aria-label", "Compose project "+g.Project)
		} else {
			w.raw(` aria-label="Other containers"`)
		}
		w.raw(`>
<h2>`)
		if g.Project != "" {
			w.text(g.Project)
			w.raw(` <span class="sub">Compose project · `)
			w.num(int64(g.Running))
			w.raw(`/`)
			w.num(int64(len(g.Rows)))
			w.raw(` running</span>`)
		} else {
			w.raw(`Standalone containers`)
		}
		w.raw(`</h2>
<table class="containers">
<thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Image</th><th scope="col">Ports</th><th scope="col">CPU</th><th scope="col">Memory</th><th scope="col">Uptime</th><th scope="col"><span class="vh">Actions</span></th></tr></thead>
<tbody>
`)
		for _, r := range g.Rows {
			containerRow(w, r)
		}
		w.raw(`
</tbody>
</table>
</section>`)
	}
}

func containerRow(w *htmlWriter, r row) {
	w.raw(`<tr`)
	w.attr("id", "c-"+r.ID)
	w.raw(` data-row`)
	w.attr("data-search", strings.Join([]string{r.Name, r.Image, r.Project, r.Service, r.State, r.Health}, " "))
	w.raw(`>
<td><a`)
	w.url("href", route("/containers/{}", r.ID))
	w.raw(`>`)
	w.text(r.Name)
	w.raw(`</a>`)
	if r.Service != "" {
		w.raw(` <span class="sub">`)
		w.text(r.Service)
		w.raw(`</span>`)
	}
	w.raw(`</td>
<td>`)
	stateBadge(w, r.State, r.Health)
	w.raw(`</td>
<td class="img">`)
	w.text(r.Image)
	w.raw(`</td>
<td>`)
	for _, p := range r.Ports {
		if p.HostPort == 0 {
			continue
		}
		w.raw(`<a`)
		w.url("href", portLink(p))
		w.raw(` rel="noopener" target="_blank">`)
		w.num(int64(p.HostPort))
		w.raw(`→`)
		w.num(int64(p.ContainerPort))
		if p.Proto == "udp" {
			w.raw(`/udp`)
		}
		w.raw(`</a> `)
	}
	w.raw(`</td>
<td`)
	w.attr("data-cpu", r.ID)
	w.raw(`>`)
	if r.State == container.StatusRunning {
		w.raw(`…`)
	}
	w.raw(`</td>
<td`)
	w.attr("data-mem", r.ID)
	w.raw(`></td>
<td>`)
	if r.State == container.StatusRunning {
		w.text(ago(r.StartedAt))
	}
	w.raw(`</td>
<td class="actions">`)
	actions(w, r)
	w.raw(`</td>
</tr>`)
}

// stateBadge is a container's state, and its health if it has a check.
func stateBadge(w *htmlWriter, state, health string) {
	w.raw(`<span`)
	w.attr("class", "state "+state)
	w.raw(` data-state>`)
	w.text(state)
	w.raw(`</span>`)
	if health != "" {
		w.raw(` <span`)
		w.attr("class", "health "+health)
		w.raw(`>`)
		w.text(health)
		w.raw(`</span>`)
	}
}

// actions are a container's buttons, for its state.
func actions(w *htmlWriter, r row) {
	button := func(action markup, label string) {
		w.raw(`<button`)
		w.url("hx-post", route("/containers/{}/"+action, r.ID))
		w.raw(` hx-swap="none"`)
		w.attr("aria-label", label+" "+r.Name)
		w.raw(`>`)
		w.text(label)
		w.raw(`</button>`)
	}
	if canStart(r.State) {
		button("start", "Start")
	}
	w.raw("\n")
	if r.State == container.StatusRunning {
		button("stop", "Stop")
		w.raw("\n")
		button("restart", "Restart")
		w.raw("\n")
		button("pause", "Pause")
	}
	w.raw("\n")
	if r.State == container.StatusPaused {
		button("unpause", "Resume")
	}
	w.raw(`
<button class="danger"`)
	w.url("hx-post", route("/containers/{}/remove", r.ID))
	w.raw(` hx-swap="none"`)
	w.attr("hx-confirm", "Remove container "+r.Name+"? A running container is killed first.")
	w.attr("aria-label", "Remove "+r.Name)
	w.raw(`>Remove</button>`)
}

// containerHeadline is the container page's title line and buttons
// (fetched again after a button's action).
func containerHeadline(w *htmlWriter, d containerView) {
	c := d.C
	w.raw(`<h1>`)
	w.text(d.Name)
	w.raw(` <span`)
	w.attr("class", "state "+c.State.Status)
	w.raw(` data-state>`)
	w.text(c.State.Status)
	w.raw(`</span>`)
	if hc := c.State.Health; hc != nil {
		w.raw(` <span`)
		w.attr("class", "health "+hc.Status)
		w.raw(`>`)
		w.text(hc.Status)
		w.raw(`</span>`)
	}
	w.raw(`</h1>
<div class="toolbar" id="c-actions"`)
	w.attr("data-container", c.ID)
	w.raw(`>`)
	actions(w, d.Row)
	w.raw(` <a href="/">Back to containers</a></div>`)
}

const timeFormat = "2006-01-02 15:04:05 MST"

// containerBody is a container's page: logs, terminal, stats, inspect,
// mounts and networks, files.
func containerBody(w *htmlWriter, d containerView) {
	c := d.C
	w.raw(`
<div id="c-head">`)
	containerHeadline(w, d)
	w.raw(`</div>
<nav aria-label="Container sections" class="tabs">
<ul>
<li><a href="#logs">Logs</a></li><li><a href="#terminal">Terminal</a></li><li><a href="#stats">Stats</a></li>
<li><a href="#inspect">Inspect</a></li><li><a href="#mounts">Mounts and networks</a></li><li><a href="#files">Files</a></li>
</ul>
</nav>

<section id="logs" aria-labelledby="logs-h">
<h2 id="logs-h">Logs</h2>
<div class="toolbar">
<label><input type="checkbox" id="log-follow" checked> Follow</label>
<label><input type="checkbox" id="log-ts"> Timestamps</label>
<label for="log-search">Search</label><input id="log-search" type="search" autocomplete="off">
<a id="log-download"`)
	w.url("href", route("/containers/{}/logs.txt", c.ID))
	w.raw(` download>Download</a>
</div>
<pre id="log" class="log"`)
	w.url("data-logs", route("/live/containers/{}/logs", c.ID))
	w.raw(` tabindex="0" aria-label="Log output" aria-live="off"></pre>
</section>

<section id="terminal" aria-labelledby="term-h">
<h2 id="term-h">Terminal</h2>
<div class="toolbar">
<label for="term-cmd">Command</label><input id="term-cmd" value="/bin/sh" autocomplete="off">
<button id="term-open"`)
	w.url("data-exec", route("/ws/containers/{}/exec", c.ID))
	w.raw(` `)
	if c.State.Status != container.StatusRunning {
		w.raw(`disabled`)
	}
	w.raw(`>Open terminal</button>
<button id="term-close" hidden>Close</button>
</div>
<div id="term" class="term" aria-label="Terminal"></div>
</section>

<section id="stats" aria-labelledby="stats-h">
<h2 id="stats-h">Stats</h2>
<div class="charts"`)
	w.url("data-stats", route("/live/containers/{}/stats", c.ID))
	w.raw(`>
<figure><figcaption>CPU %</figcaption><div data-chart="cpu"></div></figure>
<figure><figcaption>Memory</figcaption><div data-chart="mem"></div></figure>
<figure><figcaption>Network (bytes/s, received and sent)</figcaption><div data-chart="net"></div></figure>
<figure><figcaption>Block IO (bytes/s, read and written)</figcaption><div data-chart="io"></div></figure>
</div>
</section>

`)
	containerInspect(w, d)
	w.raw(`

`)
	containerMounts(w, c)
	w.raw(`

<section id="files" aria-labelledby="files-h">
<h2 id="files-h">Files</h2>
<div id="files-list"`)
	w.url("hx-get", route("/containers/{}/files?path=/", c.ID))
	w.raw(` hx-trigger="load" aria-live="polite">Loading…</div>
</section>
`)
}

func containerInspect(w *htmlWriter, d containerView) {
	c := d.C
	w.raw(`<section id="inspect" aria-labelledby="inspect-h">
<h2 id="inspect-h">Inspect</h2>
<dl class="kv">
<dt>ID</dt><dd><code>`)
	w.text(c.ID)
	w.raw(`</code></dd>
<dt>Image</dt><dd>`)
	w.text(c.ImageName)
	w.raw(` <code>`)
	w.text(shortID(c.Image))
	w.raw(`</code></dd>
<dt>Command</dt><dd><code>`)
	w.text(c.Path + " " + strings.Join(c.Args, " "))
	w.raw(`</code></dd>
<dt>Created</dt><dd>`)
	w.text(c.Created.Format(timeFormat))
	w.raw(`</dd>
<dt>Started</dt><dd>`)
	if !c.State.StartedAt.IsZero() {
		w.text(c.State.StartedAt.Format(timeFormat))
	}
	w.raw(`</dd>
<dt>Exit code</dt><dd>`)
	w.num(int64(c.State.ExitCode))
	if c.State.OOMKilled {
		w.raw(` (OOM killed)`)
	}
	w.raw(`</dd>
<dt>Restart policy</dt><dd>`)
	w.text(or(c.Config.RestartPolicy.Name, "no"))
	w.raw(` · restarts `)
	w.num(int64(c.RestartCount))
	w.raw(`</dd>
<dt>Working dir</dt><dd>`)
	w.text(c.WorkingDir)
	w.raw(`</dd>
<dt>Runtime</dt><dd>`)
	w.text(c.Runtime)
	w.raw(` · `)
	w.text(c.Snapshotter)
	w.raw(`</dd>
</dl>
<h3>Environment</h3>
<ul class="plain">`)
	for _, e := range c.Env {
		w.raw(`<li><code>`)
		w.text(e)
		w.raw(`</code></li>`)
	}
	w.raw(`</ul>
<h3>Labels</h3>
<ul class="plain">`)
	for _, k := range sortedKeys(c.Config.Labels) {
		w.raw(`<li><code>`)
		w.text(k + "=" + c.Config.Labels[k])
		w.raw(`</code></li>`)
	}
	if len(c.Config.Labels) == 0 {
		w.raw(`<li>none</li>`)
	}
	w.raw(`</ul>
<details><summary>JSON</summary><pre class="json">`)
	w.text(d.JSON)
	w.raw(`</pre></details>
</section>`)
}

func containerMounts(w *htmlWriter, c *container.Container) {
	w.raw(`<section id="mounts" aria-labelledby="mounts-h">
<h2 id="mounts-h">Mounts and networks</h2>
<table><caption>Mounts</caption><thead><tr><th scope="col">Type</th><th scope="col">Source</th><th scope="col">Destination</th><th scope="col">Mode</th></tr></thead>
<tbody>`)
	for _, m := range c.Mounts {
		w.raw(`<tr><td>`)
		w.text(m.Type)
		w.raw(`</td><td>`)
		if m.Name != "" {
			w.raw(`<a`)
			w.url("href", route("/volumes#v-{}", m.Name))
			w.raw(`>`)
			w.text(m.Name)
			w.raw(`</a>`)
		} else {
			w.text(m.Source)
		}
		w.raw(`</td><td>`)
		w.text(m.Destination)
		w.raw(`</td><td>`)
		if m.RW {
			w.raw(`rw`)
		} else {
			w.raw(`ro`)
		}
		w.raw(`</td></tr>`)
	}
	if len(c.Mounts) == 0 {
		w.raw(`<tr><td colspan="4">none</td></tr>`)
	}
	w.raw(`</tbody></table>
<table><caption>Networks</caption><thead><tr><th scope="col">Network</th><th scope="col">IP address</th><th scope="col">Gateway</th><th scope="col">MAC</th></tr></thead>
<tbody>`)
	nets := c.NetworkSettings.Networks
	for _, n := range sortedKeys(nets) {
		e := nets[n]
		w.raw(`<tr><td><a`)
		w.url("href", route("/networks/{}", n))
		w.raw(`>`)
		w.text(n)
		w.raw(`</a></td><td>`)
		w.text(e.IPAddress)
		w.raw(`</td><td>`)
		w.text(e.Gateway)
		w.raw(`</td><td>`)
		w.text(e.MacAddress)
		w.raw(`</td></tr>`)
	}
	if len(nets) == 0 {
		w.raw(`<tr><td colspan="4">not attached (stopped, or no network)</td></tr>`)
	}
	w.raw(`</tbody></table>
<table><caption>Published ports</caption><thead><tr><th scope="col">Host</th><th scope="col">Container</th></tr></thead>
<tbody>`)
	for _, p := range c.NetworkSettings.Ports {
		w.raw(`<tr><td>`)
		if p.HostPort != 0 {
			w.raw(`<a`)
			w.url("href", portLink(p))
			w.raw(` rel="noopener" target="_blank">`)
			w.text(p.HostIP)
			w.raw(`:`)
			w.num(int64(p.HostPort))
			w.raw(`</a>`)
		}
		w.raw(`</td><td>`)
		w.num(int64(p.ContainerPort))
		w.raw(`/`)
		w.text(or(p.Proto, "tcp"))
		w.raw(`</td></tr>`)
	}
	if len(c.NetworkSettings.Ports) == 0 {
		w.raw(`<tr><td colspan="2">none</td></tr>`)
	}
	w.raw(`</tbody></table>
</section>`)
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sortedKeys are m's keys in order (as a template ranged over a map).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
