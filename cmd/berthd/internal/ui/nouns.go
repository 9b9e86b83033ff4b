package ui

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/berthproject/berth/pkg/types/build"
	"github.com/berthproject/berth/pkg/types/cluster"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/volume"
)

func sortStrings(s []string) { sort.Strings(s) }

func imageListOptions() image.ListOptions { return image.ListOptions{All: true} }

func (s *Server) imageRoutes() {
	s.handle("GET /images", s.imagesPage)
	s.handle("GET /fragments/images", s.imagesFragment)
	s.handle("GET /images/{ref}/history", s.imageHistory)
	s.handle("POST /images/pull", s.imagePull)
	s.handle("POST /images/tag", s.imageTag)
	s.handle("POST /images/remove", s.imageRemove)
	s.handle("POST /images/prune", s.imagePrune)
}

// imageRow is one row of the images page: one per tag, as `berth
// images`: removing a row untags it.
type imageRow struct {
	image.Summary
	Ref string // the tag, or the ID of an untagged image
}

func (s *Server) imageList(r *http.Request) ([]imageRow, error) {
	list, err := s.b.Images.List(r.Context(), imageListOptions())
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	var rows []imageRow
	for _, img := range list {
		if len(img.RepoTags) == 0 {
			rows = append(rows, imageRow{Summary: img, Ref: img.ID})
		}
		for _, tag := range img.RepoTags {
			rows = append(rows, imageRow{Summary: img, Ref: tag})
		}
	}
	return rows, nil
}

func (s *Server) imagesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.imageList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Images", func(h *htmlWriter) { imagesBody(h, d) })
	return nil
}

func (s *Server) imagesFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.imageList(r)
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { imageList(h, d) })
	return nil
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.b.Images.History(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	s.render(w, func(w *htmlWriter) { imageHistory(w, r.PathValue("ref"), h) })
	return nil
}

// imagePull streams the pull's progress as JSON lines (app.js draws the
// bars), then {"done":ID} or {"error":…}.
func (s *Server) imagePull(w http.ResponseWriter, r *http.Request) error {
	ref := strings.TrimSpace(r.FormValue("ref"))
	if ref == "" {
		return fmt.Errorf("name the image to pull (e.g. registry:5000/app:1.0): %w", errInvalid)
	}
	f, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Accel-Buffering", "no")
	enc := json.NewEncoder(w)
	send := func(v any) {
		_ = enc.Encode(v)
		if f != nil {
			f.Flush()
		}
	}
	img, err := s.b.Images.Pull(r.Context(), ref, image.PullOptions{Progress: func(p image.Progress) { send(p) }})
	if err != nil {
		send(map[string]string{"error": err.Error()})
		return nil
	}
	send(map[string]string{"done": img.ID})
	return nil
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request) error {
	src, dst := r.FormValue("source"), strings.TrimSpace(r.FormValue("target"))
	if dst == "" {
		return fmt.Errorf("give the new tag (repository:tag): %w", errInvalid)
	}
	if err := s.b.Images.Tag(r.Context(), src, dst); err != nil {
		return err
	}
	return s.imagesFragment(w, r)
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Images.Remove(r.Context(), []string{r.FormValue("ref")}, image.RemoveOptions{Force: r.FormValue("force") == "1"}); err != nil {
		return err
	}
	return s.imagesFragment(w, r)
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.b.Images.Prune(r.Context(), image.PruneOptions{All: r.FormValue("all") == "1"})
	if err != nil {
		return err
	}
	w.Header().Set("HX-Trigger", "refresh")
	fmt.Fprintf(w, "Pruned %d images, %s reclaimed.", len(rep.Deleted), humanBytes(rep.SpaceReclaimed))
	return nil
}

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", s.volumesPage)
	s.handle("GET /fragments/volumes", s.volumesFragment)
	s.handle("POST /volumes", s.volumeCreate)
	s.handle("POST /volumes/{name}/remove", s.volumeRemove)
	s.handle("POST /volumes/prune", s.volumePrune)
	s.handle("GET /volumes/{name}/browse", s.volumeBrowse)
	s.handle("GET /volumes/{name}/export", s.volumeExport)
}

func (s *Server) volumeList(r *http.Request) ([]*volume.Volume, error) {
	list, err := s.b.Volumes.List(r.Context(), nil)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

func (s *Server) volumesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.volumeList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Volumes", func(h *htmlWriter) { volumesBody(h, d) })
	return nil
}

func (s *Server) volumesFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.volumeList(r)
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { volumeList(h, d) })
	return nil
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Volumes.Create(r.Context(), volume.CreateOptions{Name: strings.TrimSpace(r.FormValue("name"))}); err != nil {
		return err
	}
	return s.volumesFragment(w, r)
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.b.Volumes.Remove(r.Context(), r.PathValue("name"), false); err != nil {
		return err
	}
	return s.volumesFragment(w, r)
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.b.Volumes.Prune(r.Context(), volume.PruneOptions{All: r.FormValue("all") == "1"}); err != nil {
		return err
	}
	return s.volumesFragment(w, r)
}

// volumeBrowse lists a directory of the volume from its exported tar.
func (s *Server) volumeBrowse(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	dir := cleanPath(r.URL.Query().Get("path"))
	var list []entry
	// Export's tar is the volume's content from its root: entries are
	// listed by their path below dir.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.b.Volumes.Export(ctx, name, pw)) }()
	defer pr.Close()
	tr := tar.NewReader(pr)
	prefix := strings.TrimPrefix(dir, "/")
	for n := 0; ; n++ {
		if n >= maxScan {
			break
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p := strings.Trim(strings.TrimPrefix(h.Name, "./"), "/")
		rest := p
		if prefix != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(p, prefix+"/"); !ok {
				continue
			}
		}
		if rest == "" || strings.Contains(rest, "/") {
			continue
		}
		list = append(list, entry{Name: rest, Path: "/" + p, Dir: h.Typeflag == tar.TypeDir, Size: h.Size, Mode: h.FileInfo().Mode(), ModTime: h.ModTime, Link: h.Linkname})
	}
	sortEntries(list)
	s.render(w, func(h *htmlWriter) { volumeFiles(h, name, dir, list) })
	return nil
}

func (s *Server) volumeExport(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.b.Volumes.Inspect(r.Context(), name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+".tar"))
	return s.b.Volumes.Export(r.Context(), name, w)
}

func (s *Server) networkRoutes() {
	s.handle("GET /networks", s.networksPage)
	s.handle("GET /fragments/networks", s.networksFragment)
	s.handle("POST /networks", s.networkCreate)
	s.handle("POST /networks/{ref}/remove", s.networkRemove)
	s.handle("GET /networks/{ref}", s.networkPage)
}

var errNoNetworks = errors.New("this berthd runs without berth's networking")

type networkView struct {
	*network.Network
	Members []container.Summary
}

func (s *Server) networkList(r *http.Request) ([]networkView, error) {
	if s.b.Networks == nil {
		return nil, errNoNetworks
	}
	nets, err := s.b.Networks.List(r.Context(), nil)
	if err != nil {
		return nil, err
	}
	cs, err := s.b.Containers.List(r.Context(), container.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	views := make([]networkView, 0, len(nets))
	for _, n := range nets {
		v := networkView{Network: n}
		for _, c := range cs {
			for _, cn := range c.Networks {
				if cn == n.Name {
					v.Members = append(v.Members, c)
				}
			}
		}
		views = append(views, v)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].Name < views[j].Name })
	return views, nil
}

func (s *Server) networksPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.networkList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Networks", func(h *htmlWriter) { networksBody(h, d) })
	return nil
}

func (s *Server) networksFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.networkList(r)
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { networkList(h, d) })
	return nil
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	if s.b.Networks == nil {
		return errNoNetworks
	}
	opts := network.CreateOptions{Name: strings.TrimSpace(r.FormValue("name")), Driver: "bridge", Internal: r.FormValue("internal") == "1"}
	if v := strings.TrimSpace(r.FormValue("subnet")); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return fmt.Errorf("subnet %q: want a CIDR such as 10.20.0.0/24: %w", v, errInvalid)
		}
		opts.Subnet = p
	}
	if _, err := s.b.Networks.Create(r.Context(), opts); err != nil {
		return err
	}
	return s.networksFragment(w, r)
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	if s.b.Networks == nil {
		return errNoNetworks
	}
	if err := s.b.Networks.Remove(r.Context(), r.PathValue("ref")); err != nil {
		return err
	}
	return s.networksFragment(w, r)
}

func (s *Server) networkPage(w http.ResponseWriter, r *http.Request) error {
	if s.b.Networks == nil {
		return errNoNetworks
	}
	n, err := s.b.Networks.Inspect(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	d, err := s.networkList(r)
	if err != nil {
		return err
	}
	var v networkView
	for _, nv := range d {
		if nv.ID == n.ID {
			v = nv
		}
	}
	v.Network = n
	js, _ := json.MarshalIndent(n, "", "  ")
	s.page(w, r, n.Name, func(h *htmlWriter) { networkBody(h, v, string(js)) })
	return nil
}

var errNoBuilder = errors.New("this berthd has no builder")

// buildView is the build cache's list.
type buildView struct {
	Records []build.CacheRecord
	Total   int64
	Pruned  string // what a prune did
}

func (s *Server) buildCache(r *http.Request) (buildView, error) {
	if s.b.Builds == nil {
		return buildView{}, errNoBuilder
	}
	recs, err := s.b.Builds.DiskUsage(r.Context())
	if err != nil {
		return buildView{}, err
	}
	var total int64
	for _, c := range recs {
		total += c.Size
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAt.After(recs[j].CreatedAt) })
	return buildView{Records: recs, Total: total}, nil
}

func (s *Server) buildsPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.buildCache(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Builds", func(h *htmlWriter) { buildsBody(h, d) })
	return nil
}

// buildsPrune removes unused cache records (all=1: every one no build
// holds), then lists what is left.
func (s *Server) buildsPrune(w http.ResponseWriter, r *http.Request) error {
	if s.b.Builds == nil {
		return errNoBuilder
	}
	rep, err := s.b.Builds.Prune(r.Context(), build.PruneOptions{All: r.FormValue("all") == "1"})
	if err != nil {
		return err
	}
	d, err := s.buildCache(r)
	if err != nil {
		return err
	}
	d.Pruned = fmt.Sprintf("Pruned %d records, %s reclaimed.", len(rep.Deleted), humanBytes(rep.SpaceReclaimed))
	s.render(w, func(h *htmlWriter) { buildList(h, d) })
	return nil
}

// clusterView is the cluster page: this node's view, and the nodes when
// it is in a cluster.
type clusterView struct {
	Info  *cluster.Info
	Nodes []cluster.Node
}

func (s *Server) clusterData(r *http.Request) (clusterView, error) {
	if s.b.Cluster == nil {
		return clusterView{Info: &cluster.Info{State: "inactive"}}, nil
	}
	info, err := s.b.Cluster.Info(r.Context())
	if err != nil {
		return clusterView{}, err
	}
	d := clusterView{Info: info}
	if info.State == "active" {
		nodes, err := s.b.Cluster.NodeList(r.Context())
		if err != nil {
			return clusterView{}, err
		}
		d.Nodes = nodes
	}
	return d, nil
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.clusterData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "Cluster", func(h *htmlWriter) { clusterBody(h, d) })
	return nil
}

// nodeAvailability sets a node active, paused or drained (berth node
// update --availability), then lists the nodes again.
func (s *Server) nodeAvailability(w http.ResponseWriter, r *http.Request) error {
	if s.b.Cluster == nil {
		return fmt.Errorf("this berthd runs without a cluster: %w", errInvalid)
	}
	if err := s.b.Cluster.NodeUpdate(r.Context(), r.PathValue("id"), cluster.NodeUpdate{Availability: r.FormValue("availability")}); err != nil {
		return err
	}
	d, err := s.clusterData(r)
	if err != nil {
		return err
	}
	s.render(w, func(h *htmlWriter) { nodeList(h, d.Nodes) })
	return nil
}

func imagesBody(w *htmlWriter, rows []imageRow) {
	w.raw(`
<h1>Images</h1>
<form id="pull" class="toolbar" action="/images/pull" method="post" data-pull>
<label for="pull-ref">Pull an image</label><input id="pull-ref" name="ref" size="40" placeholder="registry:5000/app:1.0" required autocomplete="off">
<button type="submit">Pull</button>
</form>
<div id="pull-progress" class="progress" role="status" aria-live="polite"></div>
<div class="toolbar">
<button hx-post="/images/prune" hx-target="#prune-result" hx-confirm="Remove the dangling images?">Prune dangling</button>
<button class="danger" hx-post="/images/prune?all=1" hx-target="#prune-result" hx-confirm="Remove every image no container uses?">Prune unused</button>
<span id="prune-result" role="status"></span>
</div>
<div id="images" hx-get="/fragments/images" hx-trigger="refresh from:body">`)
	imageList(w, rows)
	w.raw(`</div>
<section id="history" aria-live="polite"></section>
`)
}

// imageList is the images, one row per tag, with their buttons.
func imageList(w *htmlWriter, rows []imageRow) {
	w.raw(`<table><caption>Local images</caption><thead><tr><th scope="col">Tag</th><th scope="col">ID</th><th scope="col">Created</th><th scope="col">Size</th><th scope="col"><span class="vh">Actions</span></th></tr></thead><tbody>
`)
	for _, img := range rows {
		ref := img.Ref
		w.raw(`<tr`)
		w.attr("data-image", ref)
		w.raw(`>
<td>`)
		if len(img.RepoTags) > 0 {
			w.raw(`<span class="tag">`)
			w.text(ref)
			w.raw(`</span>`)
		} else {
			w.raw(`<span class="sub">&lt;none&gt;</span>`)
		}
		w.raw(`</td>
<td><code>`)
		w.text(shortID(img.ID))
		w.raw(`</code></td><td>`)
		w.text(ago(img.Created))
		w.raw(` ago</td><td>`)
		w.text(humanBytes(img.Size))
		w.raw(`</td>
<td class="actions">
<button`)
		w.url("hx-get", route("/images/{}/history", img.ID))
		w.raw(` hx-target="#history"`)
		w.attr("aria-label", "History of "+ref)
		w.raw(`>History</button>
<form class="inline" hx-post="/images/tag" hx-target="#images"><input type="hidden" name="source"`)
		w.attr("value", img.ID)
		w.raw(`><label class="vh"`)
		w.attr("for", "tag-"+ref)
		w.raw(`>New tag for `)
		w.text(ref)
		w.raw(`</label><input`)
		w.attr("id", "tag-"+ref)
		w.raw(` name="target" placeholder="repo:tag" size="12" required><button type="submit"`)
		w.attr("aria-label", "Tag "+ref)
		w.raw(`>Tag</button></form>
<button class="danger" hx-post="/images/remove"`)
		w.hxVals("ref", ref)
		w.raw(` hx-target="#images"`)
		confirm := "Remove " + ref + "?"
		if len(img.RepoTags) > 0 {
			confirm += " (an image with other tags keeps them)"
		}
		w.attr("hx-confirm", confirm)
		w.attr("aria-label", "Remove "+ref)
		w.raw(`>Remove</button>
</td></tr>`)
	}
	if len(rows) == 0 {
		w.raw(`<tr><td colspan="5">No images.</td></tr>`)
	}
	w.raw(`
</tbody></table>`)
}

func imageHistory(w *htmlWriter, ref string, history []image.HistoryEntry) {
	w.raw(`<h2>History of `)
	w.text(ref)
	w.raw(`</h2><table><thead><tr><th scope="col">Created</th><th scope="col">Created by</th><th scope="col">Size</th></tr></thead><tbody>
`)
	for _, h := range history {
		w.raw(`<tr><td>`)
		w.text(ago(h.Created))
		w.raw(` ago</td><td><code>`)
		w.text(h.CreatedBy)
		w.raw(`</code></td><td>`)
		w.text(humanBytes(h.Size))
		w.raw(`</td></tr>`)
	}
	w.raw(`</tbody></table>`)
}

func volumesBody(w *htmlWriter, vols []*volume.Volume) {
	w.raw(`
<h1>Volumes</h1>
<form class="toolbar" hx-post="/volumes" hx-target="#volumes">
<label for="vol-name">New volume</label><input id="vol-name" name="name" placeholder="name (empty: a random one)" autocomplete="off">
<button type="submit">Create</button>
</form>
<div class="toolbar">
<button hx-post="/volumes/prune" hx-target="#volumes" hx-confirm="Remove the unused anonymous volumes?">Prune anonymous</button>
<button class="danger" hx-post="/volumes/prune?all=1" hx-target="#volumes" hx-confirm="Remove every volume no container uses?">Prune unused</button>
</div>
<div id="volumes">`)
	volumeList(w, vols)
	w.raw(`</div>
<section id="volume-files" aria-live="polite"></section>
`)
}

// volumeList is the volumes with the containers that use them.
func volumeList(w *htmlWriter, vols []*volume.Volume) {
	w.raw(`<table><caption>Volumes</caption><thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Created</th><th scope="col">Used by</th><th scope="col"><span class="vh">Actions</span></th></tr></thead><tbody>
`)
	for _, v := range vols {
		w.raw(`<tr`)
		w.attr("id", "v-"+v.Name)
		w.attr("data-volume", v.Name)
		w.raw(`><td>`)
		w.text(v.Name)
		if v.Anonymous {
			w.raw(` <span class="sub">anonymous</span>`)
		}
		w.raw(`</td><td>`)
		w.text(v.Driver)
		w.raw(`</td><td>`)
		w.text(ago(v.CreatedAt))
		w.raw(` ago</td>
<td>`)
		for _, id := range v.UsedBy {
			w.raw(`<a`)
			w.url("href", route("/containers/{}", id))
			w.raw(`><code>`)
			w.text(shortID(id))
			w.raw(`</code></a> `)
		}
		if len(v.UsedBy) == 0 {
			w.raw(`<span class="sub">unused</span>`)
		}
		w.raw(`</td>
<td class="actions"><button`)
		w.url("hx-get", route("/volumes/{}/browse", v.Name))
		w.raw(` hx-target="#volume-files"`)
		w.attr("aria-label", "Browse "+v.Name)
		w.raw(`>Browse</button>
<a`)
		w.url("href", route("/volumes/{}/export", v.Name))
		w.raw(` download`)
		w.attr("aria-label", "Export "+v.Name+" as tar")
		w.raw(`>Export</a>
<button class="danger"`)
		w.url("hx-post", route("/volumes/{}/remove", v.Name))
		w.raw(` hx-target="#volumes"`)
		w.attr("hx-confirm", "Remove volume "+v.Name+" and its data?")
		w.attr("aria-label", "Remove "+v.Name)
		w.raw(`>Remove</button></td></tr>
`)
	}
	if len(vols) == 0 {
		w.raw(`<tr><td colspan="5">No volumes.</td></tr>`)
	}
	w.raw(`</tbody></table>`)
}

// volumeFiles is a directory of volume name.
func volumeFiles(w *htmlWriter, name, dir string, entries []entry) {
	w.raw(`<h2>Volume `)
	w.text(name)
	w.raw(`: <code>`)
	w.text(dir)
	w.raw(`</code></h2>
<table><thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Mode</th></tr></thead><tbody>
`)
	for _, e := range entries {
		w.raw(`<tr><td>`)
		if e.Dir {
			w.raw(`<a href="#volume-files"`)
			w.url("hx-get", route("/volumes/{}/browse", name).query("path", e.Path))
			w.raw(` hx-target="#volume-files">`)
			w.text(e.Name)
			w.raw(`/</a>`)
		} else {
			w.text(e.Name)
		}
		w.raw(`</td><td>`)
		if !e.Dir {
			w.text(humanBytes(e.Size))
		}
		w.raw(`</td><td><code>`)
		w.text(e.Mode.String())
		w.raw(`</code></td></tr>
`)
	}
	if len(entries) == 0 {
		w.raw(`<tr><td colspan="3">empty</td></tr>`)
	}
	w.raw(`</tbody></table>`)
}

func networksBody(w *htmlWriter, nets []networkView) {
	w.raw(`
<h1>Networks</h1>
<form class="toolbar" hx-post="/networks" hx-target="#networks">
<label for="net-name">New network</label><input id="net-name" name="name" required autocomplete="off">
<label for="net-subnet">Subnet</label><input id="net-subnet" name="subnet" placeholder="optional, 10.20.0.0/24" autocomplete="off">
<label><input type="checkbox" name="internal" value="1"> Internal</label>
<button type="submit">Create</button>
</form>
<div id="networks">`)
	networkList(w, nets)
	w.raw(`</div>
`)
}

// memberLink is a container on a network, linked to its page.
func memberLink(w *htmlWriter, c container.Summary) {
	w.raw(`<a`)
	w.url("href", route("/containers/{}", c.ID))
	w.raw(`>`)
	if len(c.Names) > 0 {
		w.text(strings.TrimPrefix(c.Names[0], "/"))
	}
	w.raw(`</a>`)
}

// networkList is the networks with their members.
func networkList(w *htmlWriter, nets []networkView) {
	w.raw(`<table><caption>Networks</caption><thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Subnet</th><th scope="col">Gateway</th><th scope="col">Containers</th><th scope="col"><span class="vh">Actions</span></th></tr></thead><tbody>
`)
	for _, n := range nets {
		w.raw(`<tr`)
		w.attr("data-network", n.Name)
		w.raw(`><td><a`)
		w.url("href", route("/networks/{}", n.ID))
		w.raw(`>`)
		w.text(n.Name)
		w.raw(`</a>`)
		if n.Internal {
			w.raw(` <span class="sub">internal</span>`)
		}
		w.raw(`</td><td>`)
		w.text(n.Driver)
		w.raw(`</td><td>`)
		w.text(n.Subnet.String())
		w.raw(`</td><td>`)
		w.text(n.Gateway.String())
		w.raw(`</td>
<td>`)
		for _, c := range n.Members {
			memberLink(w, c)
			w.raw(` `)
		}
		w.raw(`</td>
<td class="actions">`)
		if !n.Default {
			w.raw(`<button class="danger"`)
			w.url("hx-post", route("/networks/{}/remove", n.ID))
			w.raw(` hx-target="#networks"`)
			w.attr("hx-confirm", "Remove network "+n.Name+"?")
			w.attr("aria-label", "Remove "+n.Name)
			w.raw(`>Remove</button>`)
		}
		w.raw(`</td></tr>
`)
	}
	w.raw(`</tbody></table>`)
}

// networkBody is a network's page: its settings, members and JSON.
func networkBody(w *htmlWriter, n networkView, js string) {
	w.raw(`
<h1>Network `)
	w.text(n.Name)
	w.raw(`</h1>
<dl class="kv"><dt>ID</dt><dd><code>`)
	w.text(n.ID)
	w.raw(`</code></dd><dt>Driver</dt><dd>`)
	w.text(n.Driver)
	w.raw(`</dd><dt>Subnet</dt><dd>`)
	w.text(n.Subnet.String())
	w.raw(`</dd><dt>Gateway</dt><dd>`)
	w.text(n.Gateway.String())
	w.raw(`</dd><dt>Interface</dt><dd>`)
	w.text(n.Interface)
	w.raw(`</dd><dt>Internal</dt><dd>`)
	w.text(strconv.FormatBool(n.Internal))
	w.raw(`</dd></dl>
<table><caption>Containers on `)
	w.text(n.Name)
	w.raw(`</caption><thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Image</th></tr></thead><tbody>
`)
	for _, c := range n.Members {
		w.raw(`<tr><td>`)
		memberLink(w, c)
		w.raw(`</td><td>`)
		w.text(c.State)
		w.raw(`</td><td>`)
		w.text(c.Image)
		w.raw(`</td></tr>`)
	}
	if len(n.Members) == 0 {
		w.raw(`<tr><td colspan="3">none</td></tr>`)
	}
	w.raw(`</tbody></table>
<details><summary>JSON</summary><pre class="json">`)
	w.text(js)
	w.raw(`</pre></details>
`)
}

func buildsBody(w *htmlWriter, d buildView) {
	w.raw(`
<h1>Builds</h1>
<p>The build cache of <code>berth build</code> (BuildKit, started on demand). Listing it starts the builder if a build ever ran.</p>
<div class="toolbar">
<button hx-post="/builds/prune" hx-target="#builds" hx-confirm="Remove the build cache no build uses?">Prune unused cache</button>
<button class="danger" hx-post="/builds/prune?all=1" hx-target="#builds" hx-confirm="Remove all the build cache?">Prune all</button>
</div>
<div id="builds">`)
	buildList(w, d)
	w.raw(`</div>
`)
}

// buildList is the build cache's records, after what a prune did.
func buildList(w *htmlWriter, d buildView) {
	if d.Pruned != "" {
		w.raw(`<p role="status">`)
		w.text(d.Pruned)
		w.raw(`</p>`)
	}
	w.raw(`
<table><caption>Build cache: `)
	w.num(int64(len(d.Records)))
	w.raw(` records, `)
	w.text(humanBytes(d.Total))
	w.raw(`</caption><thead><tr><th scope="col">Description</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Uses</th><th scope="col">In use</th></tr></thead><tbody>
`)
	for _, c := range d.Records {
		w.raw(`<tr><td><code>`)
		w.text(c.Description)
		w.raw(`</code></td><td>`)
		w.text(c.Type)
		w.raw(`</td><td>`)
		w.text(humanBytes(c.Size))
		w.raw(`</td><td>`)
		w.text(ago(c.CreatedAt))
		w.raw(` ago</td><td>`)
		if c.LastUsedAt != nil {
			w.text(ago(*c.LastUsedAt))
			w.raw(` ago`)
		}
		w.raw(`</td><td>`)
		w.num(int64(c.UsageCount))
		w.raw(`</td><td>`)
		if c.InUse {
			w.raw(`yes`)
		}
		w.raw(`</td></tr>
`)
	}
	if len(d.Records) == 0 {
		w.raw(`<tr><td colspan="7">No build cache.</td></tr>`)
	}
	w.raw(`</tbody></table>`)
}

func clusterBody(w *htmlWriter, d clusterView) {
	i := d.Info
	w.raw(`
<h1>Cluster</h1>
`)
	if i.State != "active" {
		w.raw(`<p>This berthd is in no cluster`)
		if i.State == "pending" {
			w.raw(` yet (joining)`)
		}
		w.raw(`. Start one with <code>berth cluster init</code>, or join one with <code>berth cluster join</code> (see docs/cluster.md).</p>
`)
	} else {
		w.raw(`<dl class="kv">
<dt>Cluster ID</dt><dd><code>`)
		w.text(i.ClusterID)
		w.raw(`</code></dd>
<dt>This node</dt><dd><code>`)
		w.text(i.NodeID)
		w.raw(`</code> at `)
		w.text(i.NodeAddr)
		w.raw(`</dd>
<dt>Created</dt><dd>`)
		w.text(i.CreatedAt.Format(timeFormat))
		w.raw(`</dd>
<dt>Store</dt><dd>`)
		w.text(i.Store)
		w.raw(` · `)
		w.text(strings.Join(i.StoreEndpoints, ", "))
		if i.Members != 0 {
			w.raw(` · `)
			w.num(int64(i.Members))
			w.raw(` etcd members`)
		}
		w.raw(`</dd>
<dt>Nodes</dt><dd>`)
		w.num(int64(i.NodesReady))
		w.raw(` of `)
		w.num(int64(i.Nodes))
		w.raw(` ready</dd>
</dl>
<div id="nodes">`)
		nodeList(w, d.Nodes)
		w.raw(`</div>`)
	}
	w.raw("\n")
}

// availabilities are a node's, in the order of its buttons.
var availabilities = []string{cluster.AvailabilityActive, cluster.AvailabilityPause, cluster.AvailabilityDrain}

// nodeList is the cluster's nodes with the buttons that set their
// availability.
func nodeList(w *htmlWriter, nodes []cluster.Node) {
	w.raw(`<table><caption>Nodes</caption><thead><tr><th scope="col">Hostname</th><th scope="col">Address</th><th scope="col">Status</th><th scope="col">Availability</th><th scope="col">Store</th><th scope="col">Engine</th><th scope="col"><span class="vh">Actions</span></th></tr></thead><tbody>
`)
	for _, n := range nodes {
		w.raw(`<tr`)
		w.attr("data-node", n.Hostname)
		w.raw(`><td>`)
		w.text(n.Hostname)
		if n.Self {
			w.raw(` <span class="sub">this node</span>`)
		}
		w.raw(` <code class="sub">`)
		w.text(shortID(n.ID))
		w.raw(`</code></td><td>`)
		w.text(n.Addr)
		w.raw(`</td>
<td><span class="state `)
		if n.Status == "ready" {
			w.raw(`running`)
		} else {
			w.raw(`exited`)
		}
		w.raw(`">`)
		w.text(n.Status)
		w.raw(`</span></td><td>`)
		w.text(n.Availability)
		w.raw(`</td><td>`)
		w.text(or(n.StoreRole, "client"))
		w.raw(`</td><td>`)
		w.text(n.EngineVersion)
		w.raw(`</td>
<td class="actions">`)
		for _, a := range availabilities {
			if a == n.Availability {
				continue
			}
			w.raw(`<button`)
			w.url("hx-post", route("/cluster/nodes/{}/availability", n.ID).query("availability", a))
			w.raw(` hx-target="#nodes"`)
			if a == cluster.AvailabilityDrain {
				w.attr("hx-confirm", "Drain "+n.Hostname+"?")
			}
			w.attr("aria-label", "Set "+n.Hostname+" "+a)
			w.raw(`>`)
			w.text(a)
			w.raw(`</button> `)
		}
		w.raw(`</td></tr>
`)
	}
	w.raw(`</tbody></table>`)
}
