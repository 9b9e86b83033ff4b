package container

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processArgs resolves Docker's entrypoint/cmd rules: --entrypoint replaces
// the image's entrypoint and drops its Cmd; a command given replaces Cmd.
func processArgs(cfg *containertypes.Config, img ocispec.ImageConfig) ([]string, error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if cfg.EntrypointSet {
		entrypoint, cmd = cfg.Entrypoint, nil
	}
	if len(cfg.Cmd) > 0 {
		cmd = cfg.Cmd
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	// As dockerd, only a missing command is refused here: an empty one
	// ([""], a container made to be committed) is created and fails at
	// start as a command not found.
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: the image has no Cmd or Entrypoint, give one after the image name: %w", errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// mergeEnv overlays KEY=VALUE entries; later entries win. An entry without
// "=" takes the value from the berthd environment in Docker, which makes no
// sense for a daemon: the CLI resolves those before they get here.
func mergeEnv(base []string, over ...[]string) []string {
	index := make(map[string]int)
	var out []string
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, list := range over {
		for _, kv := range list {
			add(kv)
		}
	}
	return out
}

// specInput is everything the OCI spec is built from.
type specInput struct {
	id       string
	cfg      *containertypes.Config
	image    ocispec.ImageConfig
	hostname string
	args     []string
	env      []string
	cwd      string
	files    containerFiles
}

// specOpts builds the container's spec as a list of small options.
func specOpts(in specInput, extra ...oci.SpecOpts) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(),
		oci.WithDefaultUnixDevices,
		withCgroupMount,
		oci.WithProcessArgs(in.args...),
		withEnvList(in.env),
		oci.WithProcessCwd(in.cwd),
		oci.WithHostname(in.hostname),
		withEtcFiles(in.files),
		withUser(in.cfg.User, in.image.User),
		withResources(in.id, in.cfg.Resources),
		withSecurity(in.cfg.Security),
	}
	if in.cfg.Tty {
		opts = append(opts, oci.WithTTY)
		if sz := in.cfg.ConsoleSize; sz.Width > 0 && sz.Height > 0 {
			opts = append(opts, oci.WithTTYSize(int(sz.Width), int(sz.Height)))
		}
	}
	return append(opts, extra...)
}

// withCgroupMount mounts the container's cgroup file system at
// /sys/fs/cgroup, read-only (withSecurity's privileged mode makes it
// writable), as Docker's default spec does and containerd's does not:
// runtimes that size themselves from their limits (the JVM, Node, Go's
// GOMAXPROCS and GOMEMLIMIT helpers) read memory.max and cpu.max there, and
// docker-in-docker needs it. With a cgroup namespace (v2's default) the
// container sees only its own cgroup as the root.
func withCgroupMount(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Mounts = append(s.Mounts, specs.Mount{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"ro", "nosuid", "noexec", "nodev"},
	})
	return nil
}

// withEnvList sets the process environment exactly (oci.WithEnv merges with the
// default spec's PATH, which the image's own env must be able to replace).
func withEnvList(env []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.Env = env
		return nil
	}
}

// withUser applies --user, else the image's user. uid:gid needs no
// look-up; anything else is resolved in the container's /etc/passwd and
// /etc/group as dockerd does (user.go).
func withUser(user, imageUser string) oci.SpecOpts {
	if user == "" {
		user = imageUser
	}
	if user == "" {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, uerr := strconv.ParseUint(u, 10, 32)
	gid, gerr := strconv.ParseUint(g, 10, 32)
	if uid > math.MaxInt32 || gid > math.MaxInt32 {
		// As dockerd (moby/sys/user): runc would take them, the kernel not.
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error {
			return fmt.Errorf("user %q: uids and gids must be in range 0-%d: %w", user, math.MaxInt32, errdefs.ErrInvalidArgument)
		}
	}
	if uerr == nil && hasGroup && gerr == nil {
		return oci.WithUIDGID(uint32(uid), uint32(gid))
	}
	return withNamedUser(user)
}

// containerFiles are the host files bind-mounted over the container's /etc.
type containerFiles struct {
	hostname, hosts, resolvConf string
}

func withEtcFiles(f containerFiles) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, m := range []struct{ src, dst string }{
			{f.hostname, "/etc/hostname"},
			{f.hosts, "/etc/hosts"},
			{f.resolvConf, "/etc/resolv.conf"},
		} {
			if m.src == "" {
				continue
			}
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: m.dst,
				Type:        "bind",
				Source:      m.src,
				Options:     []string{"rbind", "rprivate", "rw"},
			})
		}
		return nil
	}
}
