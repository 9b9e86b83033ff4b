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

func (s *Server) imageList(r *http.Request) (map[string]any, error) {
	list, err := s.b.Images.List(r.Context(), imageListOptions())
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	// One row per tag, as `berth images`: removing a row untags it.
	type imageRow struct {
		image.Summary
		Ref string // the tag, or the ID of an untagged image
	}
	var rows []imageRow
	for _, img := range list {
		if len(img.RepoTags) == 0 {
			rows = append(rows, imageRow{Summary: img, Ref: img.ID})
		}
		for _, tag := range img.RepoTags {
			rows = append(rows, imageRow{Summary: img, Ref: tag})
		}
	}
	return map[string]any{"Images": rows}, nil
}

func (s *Server) imagesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.imageList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "images.html", "Images", d)
	return nil
}

func (s *Server) imagesFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.imageList(r)
	if err != nil {
		return err
	}
	s.render(w, "image-list", d)
	return nil
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.b.Images.History(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	s.render(w, "image-history", map[string]any{"Ref": r.PathValue("ref"), "History": h})
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

func (s *Server) volumeList(r *http.Request) (map[string]any, error) {
	list, err := s.b.Volumes.List(r.Context(), nil)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return map[string]any{"Volumes": list}, nil
}

func (s *Server) volumesPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.volumeList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "volumes.html", "Volumes", d)
	return nil
}

func (s *Server) volumesFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.volumeList(r)
	if err != nil {
		return err
	}
	s.render(w, "volume-list", d)
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
	truncated := false
	// Export's tar is the volume's content from its root: entries are
	// listed by their path below dir.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.b.Volumes.Export(ctx, name, pw)) }()
	defer pr.Close()
	tr := tar.NewReader(pr)
	prefix := strings.TrimPrefix(dir, "/")
	for n := 0; ; n++ {
		if n >= maxScan {
			truncated = true
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
	s.render(w, "volume-files", map[string]any{"Name": name, "Dir": dir, "Entries": list, "Truncated": truncated})
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

func (s *Server) networkList(r *http.Request) (map[string]any, error) {
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
	return map[string]any{"Networks": views}, nil
}

func (s *Server) networksPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.networkList(r)
	if err != nil {
		return err
	}
	s.page(w, r, "networks.html", "Networks", d)
	return nil
}

func (s *Server) networksFragment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.networkList(r)
	if err != nil {
		return err
	}
	s.render(w, "network-list", d)
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
	for _, nv := range d["Networks"].([]networkView) {
		if nv.ID == n.ID {
			v = nv
		}
	}
	v.Network = n
	js, _ := json.MarshalIndent(n, "", "  ")
	s.page(w, r, "network.html", n.Name, map[string]any{"N": v, "JSON": string(js)})
	return nil
}

var errNoBuilder = errors.New("this berthd has no builder")

func (s *Server) buildCache(r *http.Request) (map[string]any, error) {
	if s.b.Builds == nil {
		return nil, errNoBuilder
	}
	recs, err := s.b.Builds.DiskUsage(r.Context())
	if err != nil {
		return nil, err
	}
	var total int64
	for _, c := range recs {
		total += c.Size
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAt.After(recs[j].CreatedAt) })
	return map[string]any{"Records": recs, "Total": total}, nil
}

func (s *Server) buildsPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.buildCache(r)
	if err != nil {
		return err
	}
	s.page(w, r, "builds.html", "Builds", d)
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
	d["Pruned"] = fmt.Sprintf("Pruned %d records, %s reclaimed.", len(rep.Deleted), humanBytes(rep.SpaceReclaimed))
	s.render(w, "build-list", d)
	return nil
}

func (s *Server) clusterData(r *http.Request) (map[string]any, error) {
	if s.b.Cluster == nil {
		return map[string]any{"Info": &cluster.Info{State: "inactive"}}, nil
	}
	info, err := s.b.Cluster.Info(r.Context())
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Info": info}
	if info.State == "active" {
		nodes, err := s.b.Cluster.NodeList(r.Context())
		if err != nil {
			return nil, err
		}
		d["Nodes"] = nodes
	}
	return d, nil
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.clusterData(r)
	if err != nil {
		return err
	}
	s.page(w, r, "cluster.html", "Cluster", d)
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
	s.render(w, "node-list", d)
	return nil
}
