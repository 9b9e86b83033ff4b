package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/containerd/typeurl/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

func init() {
	// The container's Config rides on containerd as a typed extension (JSON).
	typeurl.Register(&containertypes.Config{}, "berthproject.dev/container", "Config")
}

// RuntimeBerth and RuntimeRunc are the runtimes berth knows.
const (
	RuntimeBerth = "io.containerd.berth.v2"
	RuntimeRunc  = "io.containerd.runc.v2"
)

// Create makes a container from cfg: it resolves the image, prepares the
// container's writable snapshot, writes its /etc files and stores the
// container in containerd. A failed Create leaves nothing behind.
func (s *Service) Create(ctx context.Context, cfg containertypes.Config) (id string, warnings []string, err error) {
	ctx = s.ctx(ctx)
	if err := validateConfig(&cfg); err != nil {
		return "", nil, err
	}
	if warnings, err = validateHostConfig(&cfg); err != nil {
		return "", nil, err
	}
	if err := s.cdi.check(cfg.Resources.CDIDevices); err != nil {
		return "", nil, err
	}
	if cfg.Runtime == "" {
		cfg.Runtime = s.opts.Runtime
	}
	// The daemon's defaults are recorded in the container, as dockerd
	// records its default-ipc-mode and default-cgroupns-mode: a daemon
	// started with other defaults later does not change it.
	if cfg.IpcMode == "" {
		cfg.IpcMode = s.opts.DefaultIpcMode
	}
	// A privileged container on cgroup v1 keeps the host's cgroup
	// namespace, whatever the default (as dockerd).
	if cfg.Resources.CgroupnsMode == "" && !(cfg.Security.Privileged && cgroupV1()) {
		cfg.Resources.CgroupnsMode = s.opts.DefaultCgroupnsMode
	}
	if (cfg.OpenStdin || cfg.Tty) && cfg.Runtime != RuntimeBerth {
		return "", nil, fmt.Errorf("interactive containers (-i, -t) need berth's runtime %s: runtime %s sends output to containerd's logging binary, which carries no stdin or terminal: %w", RuntimeBerth, cfg.Runtime, errdefs.ErrInvalidArgument)
	}
	links, err := s.resolveLinks(ctx, &cfg)
	if err != nil {
		return "", nil, err
	}
	want, noEmulation, err := parsePlatform(cfg.Platform)
	if err != nil {
		return "", nil, err
	}
	img, err := s.opts.Images.ResolveForRun(ctx, cfg.Image)
	if err != nil {
		if noEmulation != nil && errdefs.IsNotFound(err) {
			return "", nil, noEmulation // nothing to pull that could run
		}
		return "", nil, err
	}
	if want != nil {
		// As dockerd: an image that is not for the platform asked is not
		// found (the docker CLI then pulls that platform's), in its words.
		have := imagetypes.Image{Os: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}
		if err := imagetypes.CheckPlatform(cfg.Image, &have, *want); err != nil {
			if noEmulation != nil {
				return "", nil, fmt.Errorf("%s; %s: %w", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrNotFound.Error()),
					strings.TrimSuffix(noEmulation.Error(), ": "+errdefs.ErrInvalidArgument.Error()), errdefs.ErrNotFound)
			}
			return "", nil, err
		}
		if noEmulation != nil {
			return "", nil, noEmulation
		}
	}
	// As Docker, the image's HEALTHCHECK is merged into the container's
	// configuration (inspect shows the effective one).
	cfg.Healthcheck = containertypes.MergeHealthConfig(cfg.Healthcheck, img.Healthcheck)

	// Not the named result id: a failed return zeroes that before the
	// undo below runs, which then released nothing (the name stayed taken
	// until berthd restarted).
	cid := newID()
	name, err := s.reserveName(cfg.Name, cid)
	if err != nil {
		return "", nil, err
	}
	cfg.Name = name
	// Everything below is undone if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, func() { s.releaseName(name, cid) })

	// A lease keeps containerd's garbage collector off the new snapshot until
	// the container record that references it exists.
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return "", nil, fmt.Errorf("creating lease: %w", err)
	}
	// A lease that fails to go is removed at berthd's next start, or expires
	// (lease.Expiration), and GC collects what it held.
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	dir := s.containerDir(cid)
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return "", nil, err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })

	snapshotter := s.client.SnapshotService(s.opts.Snapshotter)
	snapOpts, err := s.storageOpts(&cfg)
	if err != nil {
		return "", nil, err
	}
	if _, err := snapshotter.Prepare(ctx, cid, img.ChainID, snapOpts...); err != nil {
		return "", nil, fmt.Errorf("preparing the container's filesystem: %w", err)
	}
	undo = append(undo, func() {
		if rerr := snapshotter.Remove(context.WithoutCancel(ctx), cid); rerr != nil && !errdefs.IsNotFound(rerr) {
			s.log.Warn("rollback: removing snapshot", "id", cid, "err", rerr)
		}
	})

	mounts, err := s.prepareMounts(ctx, &cfg, img.Config.Config.Volumes, cid)
	if err != nil {
		return "", nil, err
	}
	undo = append(undo, func() { s.rollbackMounts(ctx, mounts) })

	args, err := processArgs(&cfg, img.Config.Config)
	if err != nil {
		return "", nil, err
	}
	netOpt, err := s.networkSpec(ctx, &cfg, cid)
	if err != nil {
		return "", nil, err
	}
	nsOpt, err := s.namespaceSpec(ctx, cid, &cfg)
	if err != nil {
		return "", nil, err
	}
	args, initOpt, err := s.initSpec(&cfg, args)
	if err != nil {
		return "", nil, err
	}
	if initOpt == nil {
		initOpt = noop
	}
	hostMode := s.networkMode(&cfg) == NetworkHost
	hostname := hostnameOf(&cfg, cid)
	if (hostMode || cfg.UTSMode == "host") && cfg.Hostname == "" {
		hostname, _ = os.Hostname()
	}
	var files containerFiles
	if other, ok := strings.CutPrefix(s.networkMode(&cfg), "container:"); ok {
		// As Docker: the container shares the other one's hostname, hosts
		// and resolv.conf along with its network namespace.
		hostname, files, err = s.sharedEtcFiles(other)
	} else {
		files, err = writeEtcFiles(dir, hostname, hostMode)
	}
	if err != nil {
		return "", nil, err
	}
	env := mergeEnv([]string{defaultPath}, img.Config.Config.Env, []string{"HOSTNAME=" + hostname}, cfg.Env)
	if cfg.Tty {
		env = mergeEnv(env, []string{"TERM=xterm"})
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = img.Config.Config.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	record := containers.Container{
		ID:          cid,
		Labels:      s.labelsFor(&cfg),
		Image:       img.Name,
		Snapshotter: s.opts.Snapshotter,
		SnapshotKey: cid,
	}
	def, err := oci.GenerateSpec(ctx, s.client, &containers.Container{ID: cid}, oci.WithDefaultSpec())
	if err != nil {
		return "", nil, fmt.Errorf("building the default spec: %w", err)
	}
	defaultPaths(&cfg.Security, def)
	spec, err := oci.GenerateSpec(ctx, s.client, &record, specOpts(specInput{
		id: cid, cfg: &cfg, image: img.Config.Config, hostname: hostname,
		args: args, env: env, cwd: cwd, files: files,
	}, netOpt, mounts.specOpt(), nsOpt, initOpt, s.cgroupOpt(cfg.Resources.CgroupParent, cid),
		s.cdi.withCDIDevices(cfg.Resources.CDIDevices))...)
	if err != nil {
		return "", nil, fmt.Errorf("building the container's spec: %w", err)
	}
	if record.Spec, err = typeurl.MarshalAny(spec); err != nil {
		return "", nil, err
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.Config.Config.StopSignal
	}
	cfgAny, err := typeurl.MarshalAny(&cfg)
	if err != nil {
		return "", nil, err
	}
	record.Extensions = map[string]typeurl.Any{extConfig: cfgAny}
	record.Labels[labelImage] = cfg.Image
	record.Labels[labelImageID] = img.ID
	record.Runtime.Name = cfg.Runtime
	if err := mounts.apply(&record); err != nil {
		return "", nil, err
	}
	if record.Runtime.Options, err = typeurl.MarshalAny(s.runtimeOptions()); err != nil {
		return "", nil, err
	}
	if _, err := s.containerStore().Create(ctx, record); err != nil {
		return "", nil, fmt.Errorf("storing the container: %w", err)
	}

	r := newRecord(cid, name)
	r.image = cfg.Image
	r.labels = maps.Clone(cfg.Labels)
	s.mu.Lock()
	s.records[cid] = r
	// A child removed since resolveLinks is not linked.
	links = slices.DeleteFunc(links, func(l link) bool { return s.records[l.childID] == nil })
	s.registerLinksLocked(cid, links)
	s.mu.Unlock()
	s.publish(r, "create", nil)
	return cid, warnings, nil
}

// runtimeOptions are the options both runc-based shims understand.
func (s *Service) runtimeOptions() *runcoptions.Options {
	return &runcoptions.Options{
		BinaryName:    s.opts.RuncPath,
		Root:          filepath.Join(s.opts.State, "runc"),
		SystemdCgroup: s.opts.CgroupDriver == CgroupDriverSystemd,
	}
}

// cgroupOpt sets the container's cgroup path for the systemd driver
// (withResources has set cgroupfs's for a --cgroup-parent).
func (s *Service) cgroupOpt(parent, id string) oci.SpecOpts {
	if s.opts.CgroupDriver != CgroupDriverSystemd {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }
	}
	return withSystemdCgroup(parent, id)
}

func (s *Service) labelsFor(cfg *containertypes.Config) map[string]string {
	labels := map[string]string{labelName: cfg.Name}
	for k, v := range cfg.Labels {
		labels[labelUserPrefix+k] = v
	}
	return labels
}

func validateConfig(cfg *containertypes.Config) error {
	if cfg.Image == "" {
		return fmt.Errorf("no image given: %w", errdefs.ErrInvalidArgument)
	}
	switch cfg.RestartPolicy.Name {
	case "", "no", "always", "unless-stopped":
		if cfg.RestartPolicy.MaximumRetryCount != 0 {
			return fmt.Errorf("maximum retry count cannot be used with restart policy %q: %w", cfg.RestartPolicy.Name, errdefs.ErrInvalidArgument)
		}
	case "on-failure":
		if cfg.RestartPolicy.MaximumRetryCount < 0 {
			return fmt.Errorf("maximum retry count cannot be negative: %w", errdefs.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("invalid restart policy %q: use no, always, unless-stopped or on-failure[:max-retries]: %w", cfg.RestartPolicy.Name, errdefs.ErrInvalidArgument)
	}
	if cfg.AutoRemove && cfg.RestartPolicy.Name != "" && cfg.RestartPolicy.Name != "no" {
		return fmt.Errorf("conflicting options: cannot specify both --restart and --rm: %w", errdefs.ErrInvalidArgument)
	}
	switch cfg.LogConfig.Type {
	case "", containertypes.LogDriverJSONFile, containertypes.LogDriverLocal:
	case containertypes.LogDriverNone:
		if cfg.LogConfig.MaxSize != 0 || cfg.LogConfig.MaxFiles != 0 {
			return fmt.Errorf("the none log driver takes no log options (max-size, max-file): %w", errdefs.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("log driver %q is not supported: use json-file, local or none: %w", cfg.LogConfig.Type, errdefs.ErrInvalidArgument)
	}
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return fmt.Errorf("the working directory must be an absolute path: %s: %w", cfg.WorkingDir, errdefs.ErrInvalidArgument)
	}
	if cfg.WorkingDir != "" {
		cfg.WorkingDir = path.Clean(cfg.WorkingDir) // "/tmp/" is kept as "/tmp", as Docker does
	}
	for _, e := range cfg.Env {
		if name, _, _ := strings.Cut(e, "="); name == "" {
			return fmt.Errorf("invalid environment variable: %s: a variable needs a name (NAME=value): %w", e, errdefs.ErrInvalidArgument)
		}
	}
	if cfg.StopTimeout != nil && *cfg.StopTimeout < -1 {
		return fmt.Errorf("invalid stop timeout %d: %w", *cfg.StopTimeout, errdefs.ErrInvalidArgument)
	}
	if cfg.StopSignal != "" {
		if _, err := parseSignal(cfg.StopSignal); err != nil {
			return err
		}
	}
	if err := cfg.Healthcheck.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

const hostsFile = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// sharedEtcFiles are the /etc files and hostname of container ref, whose
// network namespace a container joins (--network container:ref).
func (s *Service) sharedEtcFiles(ref string) (string, containerFiles, error) {
	other, err := s.lookup(ref)
	if err != nil {
		return "", containerFiles{}, err
	}
	dir := s.containerDir(other.id)
	f := containerFiles{
		hostname:   filepath.Join(dir, "hostname"),
		hosts:      filepath.Join(dir, "hosts"),
		resolvConf: filepath.Join(dir, "resolv.conf"),
	}
	b, err := os.ReadFile(f.hostname)
	if err != nil {
		return "", f, fmt.Errorf("reading the hostname of container %s: %w", other.name, err)
	}
	return strings.TrimSpace(string(b)), f, nil
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf. A
// container on the host's network gets the host's files; a container on a
// berth network gets new ones when its network is set up at start.
func writeEtcFiles(dir, hostname string, hostMode bool) (containerFiles, error) {
	f := containerFiles{
		hostname:   filepath.Join(dir, "hostname"),
		hosts:      filepath.Join(dir, "hosts"),
		resolvConf: filepath.Join(dir, "resolv.conf"),
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return f, err
	}
	hosts := []byte(hostsFile)
	if hostMode {
		if hosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return f, err
		}
	}
	for path, content := range map[string][]byte{
		f.hostname:   []byte(hostname + "\n"),
		f.hosts:      hosts,
		f.resolvConf: resolv,
	} {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return f, err
		}
	}
	return f, nil
}

// parsePlatform parses --platform (nil for none); noEmulation is the error
// for a platform this host cannot run (berth runs no emulation), nil for
// one it can.
func parsePlatform(p string) (want *ocispec.Platform, noEmulation, err error) {
	if p == "" {
		return nil, nil, nil
	}
	w, err := platforms.Parse(p)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid --platform %q: %v: %w", p, err, errdefs.ErrInvalidArgument)
	}
	w = platforms.Normalize(w)
	host := platforms.DefaultSpec()
	if !platforms.Only(host).Match(w) {
		noEmulation = fmt.Errorf("--platform %s: this host runs %s containers and berth runs no emulation for other platforms: %w",
			platforms.Format(w), platforms.Format(host), errdefs.ErrInvalidArgument)
	}
	return &w, noEmulation, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
