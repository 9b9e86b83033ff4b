package container

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// initPathInContainer is where --init's binary is mounted, as Docker's.
const initPathInContainer = "/sbin/docker-init"

// namespaceSpec turns --pid, --ipc and --uts into spec options: "host"
// joins the host's namespace; "container:X" names a container that must
// exist now and run when this one starts (joinNamespaces sets the path
// then, as dockerd checks at start). The IPC modes are dockerd's: private
// (the default) a /dev/shm of the container's own, none no /dev/shm,
// shareable a /dev/shm that containers with --ipc container:X share,
// host the host's IPC namespace and /dev/shm.
func (s *Service) namespaceSpec(ctx context.Context, id string, cfg *containertypes.Config) (oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	// The errors are dockerd's words ("invalid PID mode: x"), which
	// clients match; docs/cli.md lists the modes.
	join := func(what, mode string, ns specs.LinuxNamespaceType, own ...string) error {
		switch {
		case mode == "" || contains(own, mode):
			return nil
		case mode == "host":
			opts = append(opts, oci.WithHostNamespace(ns))
			return nil
		case strings.HasPrefix(mode, "container:"):
			_, err := s.lookupReferenced(strings.TrimPrefix(mode, "container:"), "--"+strings.ToLower(what))
			return err
		}
		return fmt.Errorf("invalid %s mode: %s: %w", what, mode, errdefs.ErrInvalidArgument)
	}
	// IPC first, as dockerd checks them.
	if err := join("IPC", cfg.IpcMode, specs.IPCNamespace, "private", "shareable", "none"); err != nil {
		return nil, err
	}
	if err := join("PID", cfg.PidMode, specs.PIDNamespace); err != nil {
		return nil, err
	}
	switch mode := cfg.IpcMode; {
	case mode == "none":
		opts = append(opts, withShm(""))
	case mode == "host":
		opts = append(opts, withShm("/dev/shm"))
	case mode == "shareable":
		opts = append(opts, withShm(s.shmDir(id)))
	case strings.HasPrefix(mode, "container:"):
		donor, _ := s.lookup(strings.TrimPrefix(mode, "container:"))
		_, dcfg, err := s.load(ctx, donor.id)
		if err != nil {
			return nil, err
		}
		if dcfg.IpcMode == "host" {
			opts = append(opts, withShm("/dev/shm"))
		} else {
			opts = append(opts, withShm(s.shmDir(donor.id)))
		}
	}
	switch cfg.UTSMode {
	case "":
	case "host":
		if cfg.Hostname != "" {
			return nil, fmt.Errorf("conflicting options: --hostname and --uts host: %w", errdefs.ErrInvalidArgument)
		}
		opts = append(opts, oci.WithHostNamespace(specs.UTSNamespace), withNoHostname)
	default:
		return nil, fmt.Errorf("invalid UTS mode: %s: %w", cfg.UTSMode, errdefs.ErrInvalidArgument)
	}
	if cfg.Domainname != "" {
		d := cfg.Domainname
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			sp.Domainname = d
			return nil
		})
	}
	if len(cfg.Annotations) > 0 {
		a := cfg.Annotations
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			if sp.Annotations == nil {
				sp.Annotations = map[string]string{}
			}
			maps.Copy(sp.Annotations, a)
			return nil
		})
	}
	return oci.Compose(opts...), nil
}

// withShm replaces the container's /dev/shm tmpfs with a bind of dir, or
// with nothing when dir is empty (--ipc none).
func withShm(dir string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		mounts := sp.Mounts[:0]
		for _, m := range sp.Mounts {
			if m.Destination != "/dev/shm" {
				mounts = append(mounts, m)
			}
		}
		sp.Mounts = mounts
		if dir != "" {
			sp.Mounts = append(sp.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: dir,
				Options: []string{"rbind", "rprivate", "nosuid", "nodev", "noexec"}})
		}
		return nil
	}
}

// shmDir is where a shareable container's /dev/shm is mounted on the host
// while it runs (dockerd's containers/<id>/mounts/shm).
func (s *Service) shmDir(id string) string {
	return filepath.Join(s.containerDir(id), "shm")
}

// mountShm mounts a shareable container's /dev/shm, a tmpfs of size bytes,
// before its task is created. Mounted already (a start after a failed one)
// is fine.
func (s *Service) mountShm(id string, size int64) error {
	dir := s.shmDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if mounted, err := mountinfo.Mounted(dir); err != nil || mounted {
		return err
	}
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("mounting the shareable /dev/shm of %s: %w", id, err)
	}
	return nil
}

// unmountShm undoes mountShm once the task is gone. Containers that joined
// it keep their own bind of it until they stop.
func (s *Service) unmountShm(id string) {
	dir := s.shmDir(id)
	if mounted, err := mountinfo.Mounted(dir); err != nil || !mounted {
		return
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		s.log.Warn("unmounting the shareable /dev/shm", "id", id, "err", err)
	}
}

// joinNamespaces points the spec's PID and IPC namespaces at the processes
// of the containers named by --pid and --ipc container:X, which must be
// running now (their process IDs change with each start), and mounts a
// shareable container's /dev/shm. The spec is stored when it changed.
func (s *Service) joinNamespaces(ctx context.Context, c *containers.Container, cfg *containertypes.Config) error {
	if cfg.IpcMode == "shareable" {
		size := cfg.Resources.ShmSize
		if size == 0 {
			size = defaultShmSize
		}
		if err := s.mountShm(c.ID, size); err != nil {
			return err
		}
	}
	paths := map[specs.LinuxNamespaceType]string{}
	if ref, ok := strings.CutPrefix(cfg.PidMode, "container:"); ok {
		other, err := s.lookup(ref)
		if err != nil {
			return fmt.Errorf("failed to join PID namespace: %w", err)
		}
		pid := s.livePID(ctx, other.id)
		if pid == 0 {
			return fmt.Errorf("failed to join PID namespace: %s is not running: %w", other.id, errdefs.ErrInternal)
		}
		paths[specs.PIDNamespace] = "/proc/" + strconv.Itoa(pid) + "/ns/pid"
	}
	if ref, ok := strings.CutPrefix(cfg.IpcMode, "container:"); ok {
		other, err := s.lookup(ref)
		if err != nil {
			return fmt.Errorf("cannot join IPC of container %s: %w", ref, err)
		}
		_, ocfg, err := s.load(ctx, other.id)
		if err != nil {
			return err
		}
		if ocfg.IpcMode != "shareable" && ocfg.IpcMode != "host" {
			return fmt.Errorf("cannot join IPC of container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container): %w", other.name, errdefs.ErrFailedPrecondition)
		}
		pid := s.livePID(ctx, other.id)
		if pid == 0 {
			return fmt.Errorf("cannot join IPC of a non running container: %s: %w", other.name, errdefs.ErrFailedPrecondition)
		}
		paths[specs.IPCNamespace] = "/proc/" + strconv.Itoa(pid) + "/ns/ipc"
		if ocfg.IpcMode == "host" {
			paths[specs.IPCNamespace] = ""
		}
	}
	if len(paths) == 0 {
		return nil
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return err
	}
	sp, ok := v.(*oci.Spec)
	if !ok {
		return fmt.Errorf("container %s: unexpected spec type %T", c.ID, v)
	}
	for typ, path := range paths {
		sp.Linux.Namespaces = slices.DeleteFunc(sp.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
		if path != "" || typ == specs.PIDNamespace {
			sp.Linux.Namespaces = append(sp.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
		}
	}
	if c.Spec, err = typeurl.MarshalAny(sp); err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, *c, "spec")
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// withNoHostname leaves the host's hostname alone (--uts host: runc refuses
// to set one without a UTS namespace of the container's own).
func withNoHostname(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
	sp.Hostname = ""
	return nil
}

// initArgs puts --init's binary before the container's command and mounts
// it read-only, as Docker does with /sbin/docker-init.
func (s *Service) initSpec(cfg *containertypes.Config, args []string) ([]string, oci.SpecOpts, error) {
	if !cfg.Init {
		return args, nil, nil
	}
	if s.opts.InitPath == "" {
		return nil, nil, fmt.Errorf("--init needs tini-static in berthd's bin_dirs or PATH (make deps installs it): %w", errdefs.ErrFailedPrecondition)
	}
	if _, err := os.Stat(s.opts.InitPath); err != nil {
		return nil, nil, fmt.Errorf("--init: %w", err)
	}
	src := s.opts.InitPath
	opt := func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		sp.Mounts = append(sp.Mounts, specs.Mount{Destination: initPathInContainer, Type: "bind", Source: src, Options: []string{"bind", "ro"}})
		return nil
	}
	return append([]string{initPathInContainer, "--"}, args...), opt, nil
}
