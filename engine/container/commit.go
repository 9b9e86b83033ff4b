package container

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Commit makes an image of the container, as `docker commit` does: its
// image with one more layer holding the container's changes to its file
// system (volumes and binds are not part of it), and the container's
// configuration (its command, environment, labels, ports...) as the image's,
// with opts.Changes applied. A running container is paused meanwhile unless
// opts.NoPause. It returns the new image's ID.
func (s *Service) Commit(ctx context.Context, ref string, opts containertypes.CommitOptions) (string, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return "", err
	}
	ctx = s.ctx(ctx)
	c, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return "", err
	}
	imageID := c.Labels[labelImageID]
	if imageID == "" || c.SnapshotKey == "" {
		return "", fmt.Errorf("container %s has no image file system to commit: %w", r.name, errdefs.ErrFailedPrecondition)
	}
	img, err := s.opts.Images.ResolveForRun(ctx, imageID)
	if err != nil {
		return "", fmt.Errorf("the image of container %s: %w", r.name, err)
	}
	runtime, onBuild, health, err := commitConfig(cfg, img, opts.Changes)
	if err != nil {
		return "", err
	}
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return "", err
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	if !opts.NoPause {
		if st, err := s.taskState(ctx, r.id); err == nil && st.Status == tasktypes.Status_RUNNING {
			if err := s.Pause(ctx, r.id); err != nil {
				return "", fmt.Errorf("pause %s for the commit: %w", r.name, err)
			}
			defer func() {
				if err := s.Unpause(context.WithoutCancel(ctx), r.id); err != nil {
					s.log.Warn("commit: unpause", "container", r.id, "error", err)
				}
			}()
		}
	}
	layer, ok, err := s.overlayLayer(ctx, c, "berth-commit-"+r.id)
	if err == nil && !ok {
		layer, err = rootfs.CreateDiff(ctx, c.SnapshotKey, s.client.SnapshotService(c.Snapshotter), s.client.DiffService(),
			diff.WithMediaType(ocispec.MediaTypeImageLayerGzip), diff.WithReference("berth-commit-"+r.id))
	}
	if err != nil {
		return "", fmt.Errorf("write the changes of %s as a layer: %w", r.name, err)
	}
	info, err := s.client.ContentStore().Info(ctx, layer.Digest)
	if err != nil {
		return "", err
	}
	diffID := info.Labels[labels.LabelUncompressed]
	if diffID == "" {
		return "", fmt.Errorf("the layer of %s has no uncompressed digest", r.name)
	}
	out, err := s.opts.Images.Commit(ctx, imagetypes.CommitRequest{
		Parent:      img.ID,
		Layer:       ocispec.Descriptor{MediaType: layer.MediaType, Digest: layer.Digest, Size: layer.Size},
		DiffID:      diffID,
		Config:      runtime,
		Healthcheck: health,
		OnBuild:     onBuild,
		Ref:         opts.Ref,
		Comment:     opts.Comment,
		Author:      opts.Author,
		CreatedBy:   strings.Join(append(append([]string(nil), runtime.Entrypoint...), runtime.Cmd...), " "),
	})
	if err != nil {
		return "", err
	}
	attrs := map[string]string{"comment": opts.Comment, "imageID": out.ID}
	if opts.Author != "" {
		attrs["author"] = opts.Author
	}
	if len(out.RepoTags) > 0 {
		attrs["imageRef"] = out.RepoTags[0]
	}
	s.publish(r, "commit", attrs)
	return out.ID, nil
}

// overlayLayer writes the changes of a container whose snapshot is an
// overlay as a gzip layer in the content store (labelled with its
// uncompressed digest), from the overlay's upper directory (deletions are
// its whiteouts) against the image's view. containerd's walking differ
// would mount a second overlay with that upper directory as a lower one,
// which the kernel logs as undefined behaviour while the container's own
// overlay is mounted. ok is false when the snapshot is no overlay.
func (s *Service) overlayLayer(ctx context.Context, c containers.Container, ref string) (_ ocispec.Descriptor, ok bool, err error) {
	sn := s.client.SnapshotService(c.Snapshotter)
	mounts, err := sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	info, err := sn.Stat(ctx, c.SnapshotKey)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	upper := overlayUpper(mounts)
	if upper == "" || info.Parent == "" {
		return ocispec.Descriptor{}, false, nil
	}
	key := "berth-commit-" + c.ID + "-" + newID()[:12]
	lower, err := sn.View(ctx, key, info.Parent)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	defer func() {
		if rerr := sn.Remove(context.WithoutCancel(ctx), key); rerr != nil {
			s.log.Warn("commit: remove view", "key", key, "error", rerr)
		}
	}()
	cs := s.client.ContentStore()
	var dgst digest.Digest
	err = mount.WithReadonlyTempMount(ctx, lower, func(lowerRoot string) error {
		w, err := content.OpenWriter(ctx, cs, content.WithRef(ref))
		if err != nil {
			return err
		}
		defer w.Close()
		if err := w.Truncate(0); err != nil { // what a cut-off commit left
			return err
		}
		gz := gzip.NewWriter(w)
		uncompressed := digest.SHA256.Digester()
		tw := archive.NewChangeWriter(io.MultiWriter(gz, uncompressed.Hash()), upper)
		if err := fs.DiffDirChanges(ctx, lowerRoot, upper, fs.DiffSourceOverlayFS, tw.HandleChange); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return err
		}
		dgst = w.Digest()
		lbl := map[string]string{labels.LabelUncompressed: uncompressed.Digest().String()}
		if err := w.Commit(ctx, 0, "", content.WithLabels(lbl)); err != nil {
			if !errdefs.IsAlreadyExists(err) {
				return err
			}
			// The same layer is there: it gets the label too.
			_, err = cs.Update(ctx, content.Info{Digest: dgst, Labels: lbl}, "labels."+labels.LabelUncompressed)
			return err
		}
		return nil
	})
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	ci, err := cs.Info(ctx, dgst)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: dgst, Size: ci.Size}, true, nil
}

// commitCommands are the Dockerfile instructions `commit --change` takes,
// Docker's list.
var commitCommands = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true,
}

// commitConfig is the image configuration of a commit: the container's
// (what its user asked for over its image's), then the changes applied in
// order, as Docker's builder applies those instructions.
func commitConfig(cfg *containertypes.Config, img ResolvedImage, changes []string) (ocispec.ImageConfig, []string, *containertypes.HealthConfig, error) {
	ic := img.Config.Config
	out := ocispec.ImageConfig{
		User:       firstNonEmpty(cfg.User, ic.User),
		Env:        mergeEnv(ic.Env, cfg.Env),
		WorkingDir: firstNonEmpty(cfg.WorkingDir, ic.WorkingDir),
		StopSignal: firstNonEmpty(cfg.StopSignal, ic.StopSignal),
		Entrypoint: ic.Entrypoint,
		Cmd:        ic.Cmd,
	}
	if cfg.EntrypointSet {
		out.Entrypoint, out.Cmd = cfg.Entrypoint, cfg.Cmd
	} else if len(cfg.Cmd) > 0 {
		out.Cmd = cfg.Cmd
	}
	addLabels := func(m map[string]string) {
		for k, v := range m {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	addLabels(ic.Labels)
	addLabels(cfg.Labels)
	addPort := func(p string) {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		out.ExposedPorts[p] = struct{}{}
	}
	for p := range ic.ExposedPorts {
		addPort(p)
	}
	for _, p := range cfg.ExposedPorts {
		addPort(p)
	}
	for _, b := range cfg.PortBindings {
		addPort(strconv.Itoa(int(b.ContainerPort)) + "/" + firstNonEmpty(b.Proto, "tcp"))
	}
	addVolume := func(v string) {
		if out.Volumes == nil {
			out.Volumes = map[string]struct{}{}
		}
		out.Volumes[v] = struct{}{}
	}
	for v := range ic.Volumes {
		addVolume(v)
	}
	health := cfg.Healthcheck
	if health == nil {
		health = img.Healthcheck
	}
	var onBuild []string
	if len(changes) == 0 {
		return out, onBuild, health, nil
	}

	res, err := parser.Parse(strings.NewReader(strings.Join(changes, "\n")))
	if err != nil {
		return out, nil, nil, fmt.Errorf("--change: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	lex := shell.NewLex(res.EscapeToken)
	cmdSet := false
	for _, n := range res.AST.Children {
		if !commitCommands[strings.ToLower(n.Value)] {
			return out, nil, nil, fmt.Errorf("--change: %s is not a valid change command (use CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR): %w", strings.ToUpper(n.Value), errdefs.ErrInvalidArgument)
		}
		cmd, err := instructions.ParseCommand(n)
		if err != nil {
			return out, nil, nil, fmt.Errorf("--change %q: %v: %w", n.Original, err, errdefs.ErrInvalidArgument)
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			env := shell.EnvsFromSlice(out.Env)
			err := ex.Expand(func(word string) (string, error) {
				w, _, err := lex.ProcessWord(word, env)
				return w, err
			})
			if err != nil {
				return out, nil, nil, fmt.Errorf("--change %q: %v: %w", n.Original, err, errdefs.ErrInvalidArgument)
			}
		}
		switch c := cmd.(type) {
		case *instructions.CmdCommand:
			out.Cmd = shellForm(c.ShellDependantCmdLine)
			cmdSet = true
		case *instructions.EntrypointCommand:
			out.Entrypoint = shellForm(c.ShellDependantCmdLine)
			if !cmdSet {
				out.Cmd = nil
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				out.Env = mergeEnv(out.Env, []string{kv.Key + "=" + kv.Value})
			}
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				ports, err := exposeSpecs(p)
				if err != nil {
					return out, nil, nil, err
				}
				for _, p := range ports {
					addPort(p)
				}
			}
		case *instructions.HealthCheckCommand:
			h := c.Health
			health = &containertypes.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
				StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				addLabels(map[string]string{kv.Key: kv.Value})
			}
		case *instructions.OnbuildCommand:
			onBuild = append(onBuild, c.Expression)
		case *instructions.StopSignalCommand:
			out.StopSignal = c.Signal
		case *instructions.UserCommand:
			out.User = c.User
		case *instructions.VolumeCommand:
			for _, v := range c.Volumes {
				if v = strings.TrimSpace(v); v == "" {
					return out, nil, nil, fmt.Errorf("--change %q: VOLUME specified can not be an empty string: %w", n.Original, errdefs.ErrInvalidArgument)
				}
				addVolume(v)
			}
		case *instructions.WorkdirCommand:
			wd := c.Path
			if !path.IsAbs(wd) {
				wd = path.Join("/", out.WorkingDir, wd)
			}
			out.WorkingDir = path.Clean(wd)
		}
	}
	return out, onBuild, health, nil
}

// shellForm is a CMD or ENTRYPOINT's command: the shell form runs under
// /bin/sh -c, as in a Dockerfile.
func shellForm(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append([]string{"/bin/sh", "-c"}, strings.Join(c.CmdLine, " "))
	}
	return c.CmdLine
}

// exposeSpecs expands one EXPOSE argument (80, 80/udp, 8000-8002/tcp) to
// "port/proto" keys.
func exposeSpecs(spec string) ([]string, error) {
	ports, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	bad := fmt.Errorf("--change: EXPOSE %s: invalid port (want PORT[-PORT][/tcp|udp|sctp]): %w", spec, errdefs.ErrInvalidArgument)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, bad
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	first, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || first == 0 {
		return nil, bad
	}
	last := first
	if isRange {
		if last, err = strconv.ParseUint(hi, 10, 16); err != nil || last < first {
			return nil, bad
		}
	}
	var out []string
	for p := first; p <= last; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
