package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"

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
		if out, err := exec.CommandContext(ctx, runc, "--version").Output(); err == nil {
			first, _, _ := bytes.Cut(out, []byte("\n"))
			v.RuncVersion = strings.TrimPrefix(string(first), "runc version ")
		}
	}
	return v, nil
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
