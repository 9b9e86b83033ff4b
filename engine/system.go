package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	systemtypes "github.com/berthproject/berth/pkg/types/system"
)

// version is berth's version, set at build time with -ldflags -X.
var version = "0.1.0-dev"

// APIVersion is the version of berth's gRPC API.
const APIVersion = "1"

// Info summarises the engine, its containers and images, and the host.
func (e *Engine) Info(ctx context.Context) (*systemtypes.Info, error) {
	list, err := e.containers.List(ctx, containertypes.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	info := &systemtypes.Info{
		Containers:        len(list),
		ContainerdAddress: e.cfg.containerdAddress,
		Namespace:         e.cfg.namespace,
		DefaultRuntime:    e.cfg.runtime,
		Snapshotter:       e.cfg.snapshotter,
		RootDir:           e.cfg.root,
		StateDir:          e.cfg.state,
		ServerVersion:     version,
		OperatingSystem:   osName(),
		Architecture:      runtime.GOARCH,
		NCPU:              runtime.NumCPU(),
		CgroupVersion:     cgroupVersion(),
		LoggingDriver:     "json-file",
	}
	info.CDISpecDirs, info.CDIDevices = e.containers.CDI()
	for _, c := range list {
		switch c.State {
		case containertypes.StatusRunning:
			info.ContainersRunning++
		case containertypes.StatusPaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	if imgs, err := e.images.List(ctx, imagetypes.ListOptions{}); err == nil {
		info.Images = len(imgs)
	}
	if v, err := e.client.Version(ctx); err == nil {
		info.ContainerdVersion = v.Version
	}
	info.Name, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		info.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		info.ID = strings.TrimSpace(string(id))
	}
	return info, nil
}

// Version reports the versions of berth and the parts it runs on.
func (e *Engine) Version(ctx context.Context) (*systemtypes.Version, error) {
	v := &systemtypes.Version{
		Version:    version,
		APIVersion: APIVersion,
		GoVersion:  runtime.Version(),
		Os:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	if cv, err := e.client.Version(ctx); err == nil {
		v.ContainerdVersion = cv.Version
	}
	if runc, err := lookBin(e.cfg.binDirs, "runc"); err == nil {
		v.RuncVersion = e.runc.get(ctx, runc, func(out []byte) string {
			first, _, _ := bytes.Cut(out, []byte("\n"))
			return strings.TrimPrefix(string(first), "runc version ")
		})
	}
	return v, nil
}

// binVersion keeps what a program's `--version` printed, parsed, while the
// program's file stays the same (path, size, modification time): every
// docker compose, docker-py or testcontainers client asks for the version
// at its start, and running runc took most of that request (~5 ms).
type binVersion struct {
	mu      sync.Mutex
	key     string
	version string
}

func (b *binVersion) get(ctx context.Context, path string, parse func([]byte) string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	key := fmt.Sprintf("%s %d %d", path, st.Size(), st.ModTime().UnixNano())
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.key == key {
		return b.version
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "" // not kept: tried again at the next call
	}
	b.key, b.version = key, parse(out)
	return b.version
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}
