package dockerapi

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	dbuild "github.com/moby/moby/api/types/build"
	dcontainer "github.com/moby/moby/api/types/container"
	devents "github.com/moby/moby/api/types/events"
	dimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	dsystem "github.com/moby/moby/api/types/system"
	dvolume "github.com/moby/moby/api/types/volume"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
)

// ping answers HEAD and GET /_ping with the headers clients negotiate from.
func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Set("Docker-Experimental", "false")
	// 2: BuildKit's /grpc and /session are served (with berth-buildkitd).
	if s.b.Builds != nil {
		h.Set("Builder-Version", "2")
	} else {
		h.Set("Builder-Version", "1")
	}
	h.Set("Swarm", s.swarmState())
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.b.System.Ping(r.Context()); err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h.Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *Server) version(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	v, err := s.b.System.Version(r.Context())
	if err != nil {
		return err
	}
	kernel := kernelVersion()
	out := dsystem.VersionResponse{
		Platform:      dsystem.PlatformInfo{Name: "berth"},
		Version:       s.info.Version,
		APIVersion:    docker.APIVersion,
		MinAPIVersion: docker.MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GitCommit:     s.info.GitCommit,
		GoVersion:     v.GoVersion,
		KernelVersion: kernel,
		Components: []dsystem.ComponentVersion{
			{Name: "Engine", Version: s.info.Version, Details: map[string]string{
				"ApiVersion": docker.APIVersion, "MinAPIVersion": docker.MinAPIVersion, "GitCommit": s.info.GitCommit,
				"GoVersion": v.GoVersion, "Os": runtime.GOOS, "Arch": runtime.GOARCH, "KernelVersion": kernel,
				"Experimental": "false", "BuildTime": "",
			}},
			{Name: "containerd", Version: v.ContainerdVersion, Details: map[string]string{"GitCommit": ""}},
			{Name: "runc", Version: v.RuncVersion, Details: map[string]string{"GitCommit": ""}},
		},
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) systemInfo(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	i, err := s.b.System.Info(r.Context())
	if err != nil {
		return err
	}
	cgroupDriver := "cgroupfs"
	out := dsystem.Info{
		ID:                 i.ID,
		Containers:         i.Containers,
		ContainersRunning:  i.ContainersRunning,
		ContainersPaused:   i.ContainersPaused,
		ContainersStopped:  i.ContainersStopped,
		Images:             i.Images,
		Driver:             i.Snapshotter,
		DriverStatus:       [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}},
		Plugins:            dsystem.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge", "host", "macvlan", "null"}, Log: []string{"json-file"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     true,
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      i.LoggingDriver,
		CgroupDriver:       cgroupDriver,
		CgroupVersion:      i.CgroupVersion,
		KernelVersion:      i.KernelVersion,
		OperatingSystem:    i.OperatingSystem,
		OSType:             runtime.GOOS,
		Architecture:       goarchToUname(i.Architecture),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(s.info.InsecureRegistries, s.info.RegistryMirrors),
		Debug:              s.info.Debug,
		NFd:                openFiles(),
		NCPU:               i.NCPU,
		MemTotal:           i.MemTotal,
		DockerRootDir:      i.RootDir,
		Name:               i.Name,
		Labels:             []string{},
		ServerVersion:      s.info.Version,
		Runtimes:           map[string]dsystem.RuntimeWithStatus{},
		DefaultRuntime:     i.DefaultRuntime,
		Swarm:              s.swarmInfo(r.Context()),
		LiveRestoreEnabled: true,
		Isolation:          "",
		ContainerdCommit:   dsystem.Commit{ID: i.ContainerdVersion},
		SecurityOptions:    []string{"name=seccomp,profile=builtin", "name=cgroupns"},
		CDISpecDirs:        append([]string{}, i.CDISpecDirs...),
		DiscoveredDevices:  []dsystem.DeviceInfo{},
		Containerd:         &dsystem.ContainerdInfo{Address: i.ContainerdAddress, Namespaces: dsystem.ContainerdNamespaces{Containers: i.Namespace, Plugins: i.Namespace}},
		Warnings:           []string{},
	}
	for _, d := range i.CDIDevices {
		out.DiscoveredDevices = append(out.DiscoveredDevices, dsystem.DeviceInfo{Source: "cdi", ID: d})
	}
	out.Runtimes[i.DefaultRuntime] = dsystem.RuntimeWithStatus{Runtime: dsystem.Runtime{Path: i.DefaultRuntime}}
	return writeJSON(w, http.StatusOK, docker.VersionedInfo(out, apiVersion(r)))
}

// registryConfig is /info's RegistryConfig as dockerd reports it: the
// insecure CIDRs (loopback's always, as berth reaches loopback registries
// without TLS too), an index entry for Docker Hub and for each insecure
// registry given by name, and Docker Hub's mirrors, with a trailing "/".
func registryConfig(insecure []string, mirrors map[string][]string) *registry.ServiceConfig {
	hub := []string{}
	for _, m := range mirrors["docker.io"] {
		hub = append(hub, strings.TrimSuffix(m, "/")+"/")
	}
	c := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.0/8")},
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: hub, Secure: true, Official: true},
		},
		Mirrors: hub,
	}
	for _, r := range insecure {
		if p, err := netip.ParsePrefix(r); err == nil {
			if !slices.Contains(c.InsecureRegistryCIDRs, p.Masked()) {
				c.InsecureRegistryCIDRs = append(c.InsecureRegistryCIDRs, p.Masked())
			}
			continue
		}
		c.IndexConfigs[r] = &registry.IndexInfo{Name: r, Mirrors: []string{}}
	}
	for host, ms := range mirrors {
		if host == "docker.io" {
			continue
		}
		idx := c.IndexConfigs[host]
		if idx == nil {
			idx = &registry.IndexInfo{Name: host, Secure: true}
			c.IndexConfigs[host] = idx
		}
		idx.Mirrors = append([]string{}, ms...)
	}
	return c
}

// openFiles is berthd's number of open file descriptors (/info's NFd).
func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}

func goarchToUname(a string) string {
	switch a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return a
}

// events streams the engine's events as Docker's JSON lines: the recorded
// ones since `since`, then live ones until `until` or the client leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	now := time.Now()
	since, err := parseTime(r.URL.Query().Get("since"), now)
	if err != nil {
		return err
	}
	until, err := parseTime(r.URL.Query().Get("until"), now)
	if err != nil {
		return err
	}
	if !until.IsZero() && !since.IsZero() && until.Before(since) {
		return invalid("`until` (%s) is before `since` (%s)", r.URL.Query().Get("until"), r.URL.Query().Get("since"))
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range filters {
		switch k {
		case "type", "event", "container", "image", "network", "volume", "label":
		case "daemon", "plugin", "node", "service", "secret", "config", "scope":
		default:
			return invalid("invalid filter '%s'", k)
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if since.IsZero() && !until.IsZero() {
		since = time.Unix(0, 1) // `until` alone replays what is recorded
	}
	ch, err := s.b.Events.Subscribe(ctx, events.Filter{Since: since, Until: until, Filters: filters})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	if err := out.f.rc.Flush(); err != nil {
		return nil
	}
	for m := range ch {
		if err := out.send(eventMessage(m)); err != nil {
			return nil
		}
	}
	return nil
}

func eventMessage(m events.Message) map[string]any {
	attrs := m.Actor.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	msg := devents.Message{
		Type:     devents.Type(m.Type),
		Action:   devents.Action(m.Action),
		Actor:    devents.Actor{ID: m.Actor.ID, Attributes: attrs},
		Scope:    "local",
		Time:     m.Time.Unix(),
		TimeNano: m.Time.UnixNano(),
	}
	// API < 1.52 also had status, id and from: the CLI's default format
	// still reads them.
	out := map[string]any{
		"Type": msg.Type, "Action": msg.Action, "Actor": msg.Actor, "scope": msg.Scope, "time": msg.Time, "timeNano": msg.TimeNano,
	}
	if m.Type == events.TypeContainer || m.Type == events.TypeImage {
		out["status"] = m.Action
		out["id"] = m.Actor.ID
		if from := attrs["image"]; from != "" {
			out["from"] = from
		}
	}
	return out
}

// legacyDiskUsage is /system/df's answer below API 1.52 (what the docker
// CLI 28 reads).
type legacyDiskUsage struct {
	LayersSize int64
	Images     []dimage.Summary
	Containers []dcontainer.Summary
	Volumes    []dvolume.Volume
	BuildCache []dbuild.CacheRecord
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	// type=… (API 1.42+) names the kinds computed and reported; the
	// others are left out (null), as dockerd's router does.
	want := map[string]bool{"container": true, "image": true, "volume": true, "build-cache": true}
	if types, ok := r.URL.Query()["type"]; ok && docker.CompareVersions(apiVersion(r), "1.42") >= 0 {
		want = map[string]bool{}
		for _, t := range types {
			switch t {
			case "container", "image", "volume", "build-cache":
				want[t] = true
			default:
				return invalid("unknown object type: %s", t)
			}
		}
	}
	du, err := s.b.System.DiskUsage(r.Context())
	if err != nil {
		return err
	}
	var out legacyDiskUsage
	if want["build-cache"] {
		if out.BuildCache, err = s.buildCache(r.Context()); err != nil {
			return err
		}
	}
	if want["image"] {
		imgs, err := s.b.Images.List(r.Context(), image.ListOptions{})
		if err != nil {
			return err
		}
		used := map[string]int{}
		for _, u := range du.Images {
			used[u.ID] = u.Containers
		}
		out.Images = []dimage.Summary{}
		for _, i := range imgs {
			out.LayersSize += i.Size
			out.Images = append(out.Images, docker.ImageSummary(i, int64(used[i.ID])))
		}
	}
	if want["container"] {
		// As `docker ps -a --size` lists them (dockerd's df does).
		list, err := s.b.Containers.List(r.Context(), container.ListOptions{All: true, Size: true})
		if err != nil {
			return err
		}
		out.Containers = []dcontainer.Summary{}
		for _, c := range list {
			out.Containers = append(out.Containers, docker.ContainerSummary(c))
		}
	}
	if want["volume"] {
		out.Volumes = []dvolume.Volume{}
		for _, v := range du.Volumes {
			out.Volumes = append(out.Volumes, dvolume.Volume{Name: v.Name, Driver: "local", Scope: "local", Labels: map[string]string{}, Options: map[string]string{},
				UsageData: &dvolume.UsageData{Size: v.Size, RefCount: int64(v.Links)}})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// auth checks credentials against a registry (docker login).
func (s *Server) auth(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req registry.AuthConfig
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	status, err := s.b.Images.Login(r.Context(), image.AuthConfig{
		ServerAddress: req.ServerAddress, Username: req.Username, Password: req.Password, IdentityToken: req.IdentityToken,
	})
	if err != nil {
		return err
	}
	if status == "" {
		status = "Login Succeeded"
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: status})
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
