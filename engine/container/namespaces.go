package container

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// initPathInContainer is where --init's binary is mounted, as Docker's.
const initPathInContainer = "/sbin/docker-init"

// namespaceSpec turns --pid, --ipc and --uts into spec options: "host"
// joins the host's namespace, "container:X" the namespace of X's running
// process (X must be running, as with Docker).
func (s *Service) namespaceSpec(ctx context.Context, cfg *containertypes.Config) (oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	join := func(flag, mode string, ns specs.LinuxNamespaceType, procName string, private ...string) error {
		switch {
		case mode == "" || contains(private, mode):
			return nil
		case mode == "host":
			opts = append(opts, oci.WithHostNamespace(ns))
			return nil
		case strings.HasPrefix(mode, "container:"):
			ref := strings.TrimPrefix(mode, "container:")
			other, err := s.lookupReferenced(ref, "--"+flag)
			if err != nil {
				return err
			}
			pid := s.livePID(ctx, other.id)
			if pid == 0 {
				return fmt.Errorf("cannot join the %s namespace of container %s: it is not running: %w", procName, other.name, errdefs.ErrFailedPrecondition)
			}
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: ns, Path: "/proc/" + strconv.Itoa(pid) + "/ns/" + procName}))
			return nil
		}
		return fmt.Errorf("invalid --%s %q: use host or container:NAME%s: %w", flag, mode, privateHint(private), errdefs.ErrInvalidArgument)
	}
	if err := join("pid", cfg.PidMode, specs.PIDNamespace, "pid"); err != nil {
		return nil, err
	}
	if err := join("ipc", cfg.IpcMode, specs.IPCNamespace, "ipc", "private", "shareable"); err != nil {
		return nil, err
	}
	switch cfg.UTSMode {
	case "":
	case "host":
		if cfg.Hostname != "" {
			return nil, fmt.Errorf("conflicting options: --hostname and --uts host: %w", errdefs.ErrInvalidArgument)
		}
		opts = append(opts, oci.WithHostNamespace(specs.UTSNamespace), withNoHostname)
	default:
		return nil, fmt.Errorf("invalid --uts %q: use host: %w", cfg.UTSMode, errdefs.ErrInvalidArgument)
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func privateHint(private []string) string {
	if len(private) == 0 {
		return ""
	}
	return ", " + strings.Join(private, ", ")
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
