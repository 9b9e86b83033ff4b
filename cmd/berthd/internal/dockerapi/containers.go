package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	dcontainer "github.com/moby/moby/api/types/container"
	dnetwork "github.com/moby/moby/api/types/network"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
)

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	name := r.URL.Query().Get("name")
	if err := validName(name); err != nil {
		return err
	}
	var body struct {
		dcontainer.CreateRequest
		// MacAddress is Config.MacAddress, the container-wide MAC of
		// API < 1.44 (removed from the types since).
		MacAddress string `json:",omitempty"`
	}
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	req := body.CreateRequest
	if err := versionedNetworking(req.NetworkingConfig, apiVersion(r)); err != nil {
		return err
	}
	if body.MacAddress != "" && docker.CompareVersions(apiVersion(r), "1.44") < 0 {
		if err := containerWideMAC(&req, body.MacAddress); err != nil {
			return err
		}
	}
	cfg, err := createConfig(name, &req)
	if err != nil {
		return err
	}
	cfg.Platform = r.URL.Query().Get("platform")
	if docker.CompareVersions(apiVersion(r), "1.44") < 0 {
		// Before 1.44 a read-only bind is read-only at its top only, as
		// dockerd's router keeps it for those clients.
		cfg.ReadOnlyBindsNonRecursive = true
		for i, m := range cfg.Mounts {
			if m.Type == "bind" && m.ReadOnly && !m.BindReadOnlyForceRecursive {
				cfg.Mounts[i].BindReadOnlyNonRecursive = true
			}
		}
	}
	if cfg.IpcMode == "" && docker.CompareVersions(apiVersion(r), "1.40") < 0 {
		cfg.IpcMode = "shareable" // the default before 1.40, as dockerd's router gives it
	}
	if cfg.Resources.CgroupnsMode == "" && docker.CompareVersions(apiVersion(r), "1.40") < 0 && !cgroup2() {
		// Before 1.40 the host's cgroup namespace was the default, which
		// dockerd's router keeps for those clients on cgroup v1.
		cfg.Resources.CgroupnsMode = "host"
	}
	id, warnings, err := s.b.Containers.Create(r.Context(), cfg)
	if err != nil {
		var nf *image.NotFoundError
		if errors.As(err, &nf) {
			// The CLI pulls on a 404 whose message names the image.
			return fmt.Errorf("No such image: %s: %w", cfg.Image, errdefs.ErrNotFound)
		}
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, dcontainer.CreateResponse{ID: id, Warnings: warnings})
}

// versionedNetworking applies dockerd's router rules for older clients:
// one network endpoint at most before 1.44, no GwPriority before 1.48
// (every endpoint had the same priority).
func versionedNetworking(nc *dnetwork.NetworkingConfig, version string) error {
	if nc == nil {
		return nil
	}
	if docker.CompareVersions(version, "1.44") < 0 && len(nc.EndpointsConfig) > 1 {
		names := slices.Sorted(maps.Keys(nc.EndpointsConfig))
		return invalid("Container cannot be created with multiple network endpoints: %s", strings.Join(names, ", "))
	}
	if docker.CompareVersions(version, "1.48") < 0 {
		for _, ep := range nc.EndpointsConfig {
			if ep != nil {
				ep.GwPriority = 0
			}
		}
	}
	return nil
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	limit, err := intValue(r, "limit", 0)
	if err != nil {
		return err
	}
	if limit < 0 {
		limit = 0
	}
	list, err := s.b.Containers.List(r.Context(), container.ListOptions{All: boolValue(r, "all"), Limit: limit, Filters: filters, Size: boolValue(r, "size")})
	if err != nil {
		return err
	}
	out := make([]dcontainer.Summary, 0, len(list))
	oldAPI := docker.CompareVersions(apiVersion(r), "1.46") < 0
	for _, c := range list {
		sum := docker.ContainerSummary(c)
		if oldAPI {
			sum.HostConfig.Annotations = nil // added in 1.46, as dockerd's router has it
		}
		out = append(out, sum)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	c, err := s.b.Containers.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	var imgCfg = s.imageConfig(r.Context(), c.Image)
	resp := docker.ContainerInspect(c, imgCfg)
	if boolValue(r, "size") {
		list, err := s.b.Containers.List(r.Context(), container.ListOptions{All: true, Filters: map[string][]string{"id": {c.ID}}, Size: true})
		if err != nil {
			return err
		}
		var rw, rootfs int64
		if len(list) == 1 {
			rw, rootfs = list[0].SizeRw, list[0].SizeRootFs
		}
		resp.SizeRw, resp.SizeRootFs = &rw, &rootfs
	}
	return writeJSON(w, http.StatusOK, docker.VersionedContainer(resp, apiVersion(r)))
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if r.URL.Query().Get("checkpoint") != "" {
		return unsupported("checkpoints")
	}
	// dockerd answers 304 for a container that already runs.
	if c, err := s.b.Containers.Inspect(r.Context(), v["name"]); err == nil && c.State.Running {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.b.Containers.Start(r.Context(), v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func stopOptions(r *http.Request) (container.StopOptions, error) {
	var o container.StopOptions
	o.Signal = r.URL.Query().Get("signal")
	if t := r.URL.Query().Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return o, invalid("invalid value for t: %q is not an integer", t)
		}
		d := time.Duration(n) * time.Second
		if n < 0 {
			d = -1 // wait forever
		}
		o.Timeout = &d
	}
	return o, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	c, err := s.b.Containers.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	if !c.State.Running && !c.State.Restarting {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.b.Containers.Stop(r.Context(), v["name"], o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := s.b.Containers.Restart(r.Context(), v["name"], o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.b.Containers.Kill(r.Context(), v["name"], r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.b.Containers.Pause(r.Context(), v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.b.Containers.Unpause(r.Context(), v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		return invalid("a new name is required: set the name parameter")
	}
	if err := validName(name); err != nil {
		return err
	}
	if err := s.b.Containers.Rename(r.Context(), v["name"], strings.TrimPrefix(name, "/")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req dcontainer.UpdateConfig
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if docker.CompareVersions(apiVersion(r), "1.40") < 0 {
		req.PidsLimit = nil // as dockerd: an older client's is ignored
	}
	var cfg container.Config
	if err := resources(&cfg, &dcontainer.HostConfig{Resources: req.Resources}); err != nil {
		return err
	}
	if req.PidsLimit != nil && *req.PidsLimit <= 0 {
		// As dockerd: 0 and any negative value lift the limit (berth's -1;
		// 0 would leave it as it is). Inspect shows 0 from then on.
		cfg.Resources.PidsLimit = -1
	}
	if req.RestartPolicy.Name != "" {
		p := container.RestartPolicy{Name: string(req.RestartPolicy.Name), MaximumRetryCount: req.RestartPolicy.MaximumRetryCount}
		if err := s.b.Containers.UpdateRestartPolicy(r.Context(), v["name"], p); err != nil {
			return err
		}
	}
	warnings, err := s.b.Containers.Update(r.Context(), v["name"], cfg.Resources)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, dcontainer.UpdateResponse{Warnings: warnings})
}

// containerWait sends its 200 and headers as soon as the wait is
// registered (docker run waits for them before it starts the container),
// then the exit status when the condition is met.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "":
		cond = container.WaitNotRunning
	case container.WaitNotRunning, container.WaitNextExit, container.WaitRemoved:
	default:
		return invalid("invalid condition %q: use not-running, next-exit or removed", cond)
	}
	ch, err := s.b.Containers.Wait(r.Context(), v["name"], cond)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return nil
	}
	var resp dcontainer.WaitResponse
	select {
	case st, ok := <-ch:
		if !ok {
			resp.Error = &dcontainer.WaitExitError{Message: "the wait ended before the container exited"}
			break
		}
		resp.StatusCode = int64(st.ExitCode)
		if st.Error != "" {
			resp.Error = &dcontainer.WaitExitError{Message: st.Error}
		}
	case <-r.Context().Done():
		return nil
	}
	return writeJSONBody(w, resp)
}

// writeJSONBody writes v after the headers were sent.
func writeJSONBody(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func windowSize(r *http.Request) (container.WindowSize, error) {
	h, err := sizeValue(r, "height", "h")
	if err != nil {
		return container.WindowSize{}, err
	}
	wd, err := sizeValue(r, "width", "w")
	if err != nil {
		return container.WindowSize{}, err
	}
	return container.WindowSize{Height: h, Width: wd}, nil
}

// sizeValue parses a resize parameter with dockerd's words: `invalid resize
// height "x": invalid syntax`, or "value out of range" (0 to 65535).
func sizeValue(r *http.Request, what, k string) (uint16, error) {
	s := r.URL.Query().Get(k)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, invalid("invalid resize %s %q: value out of range (0 to 65535)", what, s)
		}
		return 0, invalid("invalid resize %s %q: invalid syntax (a number of cells, 0 to 65535)", what, s)
	}
	if n < 0 || n > math.MaxUint16 {
		return 0, invalid("invalid resize %s %q: value out of range (0 to 65535)", what, s)
	}
	return uint16(n), nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	size, err := windowSize(r)
	if err != nil {
		return err
	}
	if err := s.b.Containers.Resize(r.Context(), v["name"], size); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	err := s.b.Containers.Remove(r.Context(), v["name"], container.RemoveOptions{Force: boolValue(r, "force"), Volumes: boolValue(r, "v"), Link: boolValue(r, "link")})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	t, err := s.b.Containers.Top(r.Context(), v["name"], r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	procs := t.Processes
	if procs == nil {
		procs = [][]string{}
	}
	return writeJSON(w, http.StatusOK, dcontainer.TopResponse{Titles: t.Titles, Processes: procs})
}

// containerPrune removes the stopped containers (matching the label and
// until filters) through the engine's prune.
func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	if vals := filters["until"]; len(vals) > 0 {
		until, err := parseTime(vals[0], time.Now())
		if err != nil {
			return err
		}
		filters["until"] = []string{until.UTC().Format(time.RFC3339Nano)}
	}
	rep, err := s.b.Containers.Prune(r.Context(), container.PruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dcontainer.PruneReport{ContainersDeleted: rep.ContainersDeleted, SpaceReclaimed: rep.SpaceReclaimed})
}

// containerExport writes a tar of the container's root file system.
func (s *Server) containerExport(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if _, err := s.b.Containers.Inspect(r.Context(), v["name"]); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.b.Containers.Export(r.Context(), v["name"], w); err != nil {
		s.log.Warn("container export", "container", v["name"], "error", err)
		panic(http.ErrAbortHandler) // cut the answer short so the client sees a failure
	}
	return nil
}

// containerChanges lists the container's changes to its image's file
// system (Docker's kinds: 0 changed, 1 added, 2 deleted).
func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	list, err := s.b.Containers.Changes(r.Context(), v["name"])
	if err != nil {
		return err
	}
	out := make([]dcontainer.FilesystemChange, 0, len(list))
	for _, ch := range list {
		out = append(out, dcontainer.FilesystemChange{Kind: dcontainer.ChangeType(ch.Kind), Path: ch.Path})
	}
	return writeJSON(w, http.StatusOK, out)
}

// commit makes an image of a container (POST /commit?container=...): repo
// and tag name it, comment, author, changes (one Dockerfile instruction
// each) and pause (default true) as docker commit's flags.
func (s *Server) commit(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	// The body is an optional container config for the image (dockerd
	// merges it in); berth takes changes from the changes parameter only,
	// but a malformed body is refused first, as dockerd does.
	var cfg dcontainer.Config
	if err := decodeJSON(w, r, &cfg, true); err != nil {
		return err
	}
	q := r.URL.Query()
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	var changes []string
	for _, c := range q["changes"] {
		for _, line := range strings.Split(c, "\n") {
			if strings.TrimSpace(line) != "" {
				changes = append(changes, line)
			}
		}
	}
	id, err := s.b.Containers.Commit(r.Context(), q.Get("container"), container.CommitOptions{
		Ref: ref, Comment: q.Get("comment"), Author: q.Get("author"), Changes: changes,
		NoPause: !boolValueOr(r, "pause", true),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, dcontainer.CommitResponse{ID: id})
}

// imageConfig is the configuration of the image a container was made
// from, or nil (image removed since).
func (s *Server) imageConfig(ctx context.Context, id string) *image.Config {
	if id == "" {
		return nil
	}
	cfg, err := s.b.Images.RunConfig(ctx, id)
	if err != nil {
		return nil
	}
	return cfg
}

// cgroup2 reports whether the host runs cgroup v2 (unified).
func cgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// containerWideMAC moves an API < 1.44 client's container-wide MAC address
// to the endpoint of its network, as dockerd's router does: the network
// of NetworkMode, a bridge or user-defined one, whose endpoint config is
// made if the request has none (there is at most one before 1.44).
func containerWideMAC(req *dcontainer.CreateRequest, mac string) error {
	mode := "default"
	if req.HostConfig != nil && req.HostConfig.NetworkMode != "" {
		mode = string(req.HostConfig.NetworkMode)
	}
	switch {
	case mode == "host", mode == "none", strings.HasPrefix(mode, "container:"):
		return invalid("conflicting options: mac-address and the network mode")
	case mode == "default":
		mode = "bridge"
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return invalid("invalid MAC address: %s", mac)
	}
	if req.NetworkingConfig == nil {
		req.NetworkingConfig = &dnetwork.NetworkingConfig{}
	}
	if len(req.NetworkingConfig.EndpointsConfig) == 0 {
		req.NetworkingConfig.EndpointsConfig = map[string]*dnetwork.EndpointSettings{mode: {}}
	}
	for n, ep := range req.NetworkingConfig.EndpointsConfig {
		if ep == nil {
			ep = &dnetwork.EndpointSettings{}
			req.NetworkingConfig.EndpointsConfig[n] = ep
		}
		ep.MacAddress = dnetwork.HardwareAddr(hw)
	}
	return nil
}
