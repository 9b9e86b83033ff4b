package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/pkg/fsarchive"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	volumetypes "github.com/berthproject/berth/pkg/types/volume"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func init() {
	typeurl.Register(&mountRecord{}, "berthproject.dev/container", "Mounts")
}

// Volumes is what the container service needs of the volume service
// (*volume.Service).
type Volumes interface {
	Create(ctx context.Context, o volumetypes.CreateOptions) (*volumetypes.Volume, error)
	Get(ctx context.Context, name string) (*volumetypes.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
}

// labelVolumePrefix marks a container's use of a volume: label
// berth.volume.<name> = "anonymous" (made for this container: rm -v
// removes it) or "named".
const (
	labelVolumePrefix = "berth.volume."
	extMounts         = "berth.mounts"
)

// mountEntry is one resolved mount, stored with the container
// (extension berth.mounts) so that --volumes-from and Inspect see it.
type mountEntry struct {
	containertypes.MountPoint
	// Anonymous: the volume was made for this container.
	Anonymous bool `json:"Anonymous,omitempty"`
	NoCopy    bool `json:"NoCopy,omitempty"`
	// SpecType, SpecSource and Options are the OCI mount.
	SpecType   string   `json:"SpecType"`
	SpecSource string   `json:"SpecSource"`
	Options    []string `json:"Options,omitempty"`
	// FromImage: an anonymous volume for one of the image's VOLUMEs.
	FromImage bool `json:"FromImage,omitempty"`
	// Subpath: only this part of the volume or image is mounted. It is
	// resolved at each start (see stageMounts), which fills in the spec's
	// source; SpecSource stays empty.
	Subpath string `json:"Subpath,omitempty"`
	// View is the snapshot (a read-only view of the image) of an image
	// mount, ImageID its image.
	View    string `json:"View,omitempty"`
	ImageID string `json:"ImageID,omitempty"`
}

// staged says whether the mount's source is only known at start: a volume
// subpath or an image.
func (e mountEntry) staged() bool { return e.Type == "image" || e.Subpath != "" }

type mountRecord struct {
	Mounts []mountEntry `json:"Mounts"`
}

// mountPlan is the mounts of a container being created.
type mountPlan struct {
	entries  []mountEntry
	created  []string // volumes this create made (rolled back on failure)
	readonly bool
	copyUp   []mountEntry // new, empty volumes to fill from the image
	views    []string     // image mounts' snapshots this create made
	id       string       // the container's
}

// prepareMounts resolves cfg's mounts and the image's VOLUMEs: it creates
// the named volumes that do not exist and the anonymous ones, and fills
// new volumes with the image's content at their path (copy-up). The
// container's snapshot (key id) must be prepared. On error nothing it made
// is left; on success the caller undoes with rollback if a later step fails.
func (s *Service) prepareMounts(ctx context.Context, cfg *containertypes.Config, imageVolumes map[string]struct{}, id string) (p *mountPlan, err error) {
	p = &mountPlan{readonly: cfg.ReadonlyRootfs, id: id}
	defer func() {
		if err != nil {
			s.rollbackMounts(ctx, p)
			p = nil
		}
	}()
	type want struct {
		m      containertypes.MountSpec
		origin mountOrigin
	}
	var wanted []want
	for _, b := range cfg.Binds {
		m, err := containertypes.ParseBind(b)
		if err != nil {
			return p, err
		}
		m.BindReadOnlyNonRecursive = cfg.ReadOnlyBindsNonRecursive
		wanted = append(wanted, want{m, fromV})
	}
	for _, m := range cfg.Mounts {
		wanted = append(wanted, want{m, fromMount})
	}
	var tmpfs []string
	for dst := range cfg.Tmpfs {
		tmpfs = append(tmpfs, dst)
	}
	sort.Strings(tmpfs)
	for _, dst := range tmpfs {
		wanted = append(wanted, want{containertypes.MountSpec{Type: "tmpfs", Target: dst}, fromTmpfs})
	}
	// An anonymous volume (-v /dst, Docker's Config.Volumes) yields to any
	// other mount on its destination (a tmpfs over it wins, as dockerd's).
	anonymous := func(w want) bool { return w.origin == fromV && w.m.Type == "volume" && w.m.Source == "" }
	sort.SliceStable(wanted, func(i, j int) bool { return !anonymous(wanted[i]) && anonymous(wanted[j]) })
	seen := map[string]bool{}
	for _, w := range wanted {
		if anonymous(w) && seen[path.Clean(w.m.Target)] {
			continue
		}
		opts := ""
		if w.origin == fromTmpfs {
			opts = cfg.Tmpfs[w.m.Target]
		}
		e, err := s.resolveMount(ctx, p, w.m, w.origin, opts)
		if err != nil {
			return p, err
		}

		if seen[e.Destination] {
			return p, fmt.Errorf("duplicate mount point: %s: %w", e.Destination, errdefs.ErrInvalidArgument)
		}
		seen[e.Destination] = true
		p.entries = append(p.entries, e)
	}
	for _, from := range cfg.VolumesFrom {
		inherited, err := s.volumesFrom(ctx, from)
		if err != nil {
			return p, err
		}
		for _, e := range inherited {
			if !seen[e.Destination] {
				seen[e.Destination] = true
				p.entries = append(p.entries, e)
			}
		}
	}
	var paths []string
	for dst := range imageVolumes {
		paths = append(paths, path.Clean("/"+dst))
	}
	sort.Strings(paths)
	for _, dst := range paths {
		if seen[dst] || dst == "/" {
			continue
		}
		seen[dst] = true
		e, err := s.resolveMount(ctx, p, containertypes.MountSpec{Type: "volume", Target: dst}, fromImage, "")
		if err != nil {
			return p, err
		}
		e.FromImage = true
		p.entries = append(p.entries, e)
	}
	sortByDepth(p.entries)
	if len(p.copyUp) > 0 {
		if err := s.copyUp(ctx, id, p.copyUp); err != nil {
			return p, err
		}
	}
	return p, nil
}

// sortByDepth puts parents before children: /data must be mounted before
// /data/logs.
func sortByDepth(entries []mountEntry) {
	sort.SliceStable(entries, func(i, j int) bool {
		return depth(entries[i].Destination) < depth(entries[j].Destination)
	})
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// mountOrigin is the flag a mount came from: the rules differ slightly.
type mountOrigin int

const (
	fromV     mountOrigin = iota // -v: a missing host directory is made
	fromMount                    // --mount: a missing bind source is an error
	fromTmpfs                    // --tmpfs: noexec by default, options after ":"
	fromImage                    // the image's VOLUME
)

// resolveMount checks one mount and makes what it needs (a volume, a
// missing -v host directory). tmpfsOpts are --tmpfs's options.
func (s *Service) resolveMount(ctx context.Context, p *mountPlan, m containertypes.MountSpec, origin mountOrigin, tmpfsOpts string) (mountEntry, error) {
	if m.Target == "" {
		return mountEntry{}, fmt.Errorf("invalid mount: no target: %w", errdefs.ErrInvalidArgument)
	}
	if !path.IsAbs(m.Target) {
		return mountEntry{}, fmt.Errorf("invalid mount target %q: mount path must be absolute: %w", m.Target, errdefs.ErrInvalidArgument)
	}
	dst := path.Clean(m.Target)
	if dst == "/" {
		return mountEntry{}, fmt.Errorf("invalid mount target %q: destination can't be '/' (cannot mount over the root): %w", m.Target, errdefs.ErrInvalidArgument)
	}
	if m.Type == "" {
		m.Type = "volume"
	}
	if m.Type != "bind" && m.BindPropagation != "" {
		return mountEntry{}, fmt.Errorf("bind-propagation applies to binds only: %w", errdefs.ErrInvalidArgument)
	}
	if m.Type != "volume" && m.VolumeNoCopy {
		return mountEntry{}, fmt.Errorf("volume-nocopy applies to volumes only: %w", errdefs.ErrInvalidArgument)
	}
	if m.Type != "tmpfs" && (m.TmpfsSize != 0 || m.TmpfsMode != 0) {
		return mountEntry{}, fmt.Errorf("tmpfs options apply to tmpfs mounts only: %w", errdefs.ErrInvalidArgument)
	}
	if m.Subpath != "" {
		if m.Type != "volume" && m.Type != "image" {
			return mountEntry{}, fmt.Errorf("a subpath applies to volume and image mounts only: %w", errdefs.ErrInvalidArgument)
		}
		if m.Type == "volume" && m.Source == "" {
			return mountEntry{}, fmt.Errorf("invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes: %w", errdefs.ErrInvalidArgument)
		}
		// As dockerd: lexically within (no "..", not absolute); where its
		// symbolic links lead is checked at each start.
		if !filepath.IsLocal(m.Subpath) {
			return mountEntry{}, fmt.Errorf("invalid mount config for type %q: subpath must be a relative path within the volume: %w", m.Type, errdefs.ErrInvalidArgument)
		}
	}
	e := mountEntry{MountPoint: containertypes.MountPoint{Type: m.Type, Destination: dst, RW: !m.ReadOnly}, NoCopy: m.VolumeNoCopy}
	rw := "rw"
	if m.ReadOnly {
		rw = "ro"
	}
	switch m.Type {
	case "bind":
		if !path.IsAbs(m.Source) {
			return e, fmt.Errorf("invalid bind source %q: it must be an absolute host path: %w", m.Source, errdefs.ErrInvalidArgument)
		}
		src := filepath.Clean(m.Source)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			if origin == fromMount {
				return e, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s: %w", src, errdefs.ErrInvalidArgument)
			}
			// -v makes a missing host directory, as Docker's -v does.
			if err := os.MkdirAll(src, 0o755); err != nil {
				return e, err
			}
		} else if err != nil {
			return e, err
		}
		prop, err := s.bindPropagation(src, m.BindPropagation)
		if err != nil {
			return e, err
		}
		e.Source, e.SpecType, e.SpecSource = src, "bind", src
		e.Mode, e.Propagation = rw, prop
		bind := "rbind"
		if m.BindNonRecursive {
			bind = "bind"
		}
		e.Options = []string{bind, prop, rw}
		switch {
		case !m.ReadOnly && (m.BindReadOnlyNonRecursive || m.BindReadOnlyForceRecursive):
			return e, fmt.Errorf("bind read-only options apply to read-only binds only: %w", errdefs.ErrInvalidArgument)
		case m.BindReadOnlyNonRecursive && m.BindReadOnlyForceRecursive:
			return e, fmt.Errorf("a bind cannot be read-only both recursively and not: %w", errdefs.ErrInvalidArgument)
		case m.BindReadOnlyForceRecursive && !recursiveReadOnlySupported():
			return e, fmt.Errorf("recursively read-only binds need Linux 5.12 or later: %w", errdefs.ErrFailedPrecondition)
		case m.BindReadOnlyForceRecursive,
			m.ReadOnly && !m.BindReadOnlyNonRecursive && !m.BindNonRecursive && recursiveReadOnlySupported():
			// As dockerd (API 1.44): read-only with the mounts below it.
			e.Options = append(e.Options, "rro")
		}
	case "tmpfs":
		if m.Source != "" {
			return e, fmt.Errorf("invalid mount config for type \"tmpfs\": a tmpfs has no source: %w", errdefs.ErrInvalidArgument)
		}
		e.Source, e.SpecType, e.SpecSource = "", "tmpfs", "tmpfs"
		e.Mode = rw
		e.Options = []string{"nosuid", "nodev", rw}
		if origin == fromTmpfs { // Docker's --tmpfs defaults, then the user's
			e.Options = append([]string{"noexec"}, e.Options...)
			e.Options = append(e.Options, splitOpts(tmpfsOpts)...)
		}
		if m.TmpfsSize > 0 {
			e.Options = append(e.Options, "size="+strconv.FormatInt(m.TmpfsSize, 10))
		}
		if m.TmpfsMode != 0 {
			e.Options = append(e.Options, "mode="+strconv.FormatUint(uint64(m.TmpfsMode), 8))
		}
	case "image":
		if m.Source == "" {
			return e, fmt.Errorf("invalid mount config for type \"image\": field Source must not be empty: %w", errdefs.ErrInvalidArgument)
		}
		img, err := s.opts.Images.ResolveForRun(ctx, m.Source)
		if err != nil {
			return e, err
		}
		// An image's filesystem is always mounted read-only.
		e.RW, e.Mode, e.Propagation = false, "ro", "rprivate"
		e.Source, e.ImageID, e.Subpath = m.Source, img.ID, m.Subpath
		e.SpecType = "bind"
		e.Options = []string{"rbind", "rprivate", "ro"}
		if e.View, err = s.imageView(ctx, p, img.ChainID); err != nil {
			return e, err
		}
	case "volume":
		if s.opts.Volumes == nil {
			return e, fmt.Errorf("volumes are not available in this engine: %w", errdefs.ErrNotImplemented)
		}
		name := m.Source
		v, err := s.opts.Volumes.Get(ctx, name)
		if name == "" || errdefs.IsNotFound(err) {
			if name != "" {
				if err := volumetypes.ValidName(name); err != nil {
					return e, err
				}
			}
			o := volumetypes.CreateOptions{Name: name}
			if name == "" {
				o.Labels = map[string]string{volumetypes.LabelAnonymous: ""}
			}
			if v, err = s.opts.Volumes.Create(ctx, o); err != nil {
				return e, err
			}
			p.created = append(p.created, v.Name)
		} else if err != nil {
			return e, err
		}
		e.Anonymous = name == ""
		e.Name, e.Driver, e.Source, e.Mode = v.Name, v.Driver, v.Mountpoint, rw
		e.Propagation = ""
		switch {
		case m.Subpath != "" && (v.Mountpoint == "" || (v.Options["type"] != "" && !isBindOpts(v.Options["o"]))):
			return e, fmt.Errorf("volume %s is mounted at each use (driver options type=%s): a subpath needs a volume whose data is a directory: %w", v.Name, v.Options["type"], errdefs.ErrInvalidArgument)
		case v.Mountpoint == "": // a tmpfs volume: each container has its own
			e.SpecType, e.SpecSource = "tmpfs", "tmpfs"
			e.Options = append([]string{"nosuid", "nodev", rw}, splitOpts(v.Options["o"])...)
		case v.Options["type"] != "" && !isBindOpts(v.Options["o"]):
			e.SpecType, e.SpecSource = v.Options["type"], v.Options["device"]
			e.Options = append([]string{rw}, splitOpts(v.Options["o"])...)
		case m.Subpath != "":
			// The subpath is found at each start (stageMounts). An empty
			// directory there gets the image's content, as with dockerd.
			e.SpecType, e.Subpath = "bind", m.Subpath
			e.Options = []string{"rbind", "rprivate", rw}
			if !m.VolumeNoCopy {
				p.copyUp = append(p.copyUp, e)
			}
		default:
			e.SpecType, e.SpecSource = "bind", v.Mountpoint
			e.Options = []string{"rbind", "rprivate", rw}
			if !m.VolumeNoCopy && emptyDir(v.Mountpoint) {
				p.copyUp = append(p.copyUp, e)
			}
		}
	default:
		return e, fmt.Errorf("invalid mount type %q: want volume, bind, tmpfs or image: %w", m.Type, errdefs.ErrInvalidArgument)
	}
	return e, nil
}

func splitOpts(o string) []string {
	var out []string
	for _, x := range strings.Split(o, ",") {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func isBindOpts(o string) bool {
	for _, x := range strings.Split(o, ",") {
		if x == "bind" || x == "rbind" {
			return true
		}
	}
	return false
}

func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// copyUp fills new volumes with the image's content at their paths
// (Docker's copy-up): the container's snapshot is mounted read-only for it.
func (s *Service) copyUp(ctx context.Context, id string, entries []mountEntry) error {
	mounts, err := s.client.SnapshotService(s.opts.Snapshotter).Mounts(ctx, id)
	if err != nil {
		return fmt.Errorf("mounting the container's filesystem: %w", err)
	}
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		for _, e := range entries {
			dst, done, err := copyUpTarget(e)
			if err != nil || dst == "" {
				continue // not empty, or a subpath that start will refuse
			}
			err = copyUpOne(root, e, dst)
			done()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// copyUpTarget is the directory to fill for e, "" if it is not empty: the
// volume's, or its subpath's (opened beneath the volume, so a symbolic
// link cannot lead the copy out of it).
func copyUpTarget(e mountEntry) (dir string, done func(), err error) {
	if e.Subpath == "" {
		return e.SpecSource, func() {}, nil
	}
	fd, err := openBeneath(e.Source, e.Subpath)
	if err != nil {
		return "", nil, err
	}
	dir = "/proc/self/fd/" + strconv.Itoa(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || !emptyDir(dir) {
		unix.Close(fd)
		return "", nil, err
	}
	return dir, func() { unix.Close(fd) }, nil
}

// copyUpOne copies the image's content at e's destination into dst.
func copyUpOne(root string, e mountEntry, dst string) error {
	src, err := fsarchive.OpenRootIn(root, e.Destination)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // nothing in the image there
		}
		return fmt.Errorf("copying the image's %s into volume %s: %w", e.Destination, e.Name, err)
	}
	defer src.Close()
	if err := copyTree(src, dst); err != nil {
		return fmt.Errorf("copying the image's %s into volume %s: %w", e.Destination, e.Name, err)
	}
	return nil
}

// copyTree copies everything in src into the directory dst.
func copyTree(src *os.Root, dst string) error {
	fi, err := src.Stat(".")
	if err != nil || !fi.IsDir() {
		return nil // a file at a volume's path: nothing to copy up
	}
	dr, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer dr.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(fsarchive.Tar(pw, src, ".", ".")) }()
	err = fsarchive.Untar(pr, dr, fsarchive.UntarOptions{Chown: true})
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

// volumesFrom returns the volume and bind mounts of another container,
// for --volumes-from CONTAINER[:ro|:rw].
func (s *Service) volumesFrom(ctx context.Context, spec string) ([]mountEntry, error) {
	ref, mode, _ := strings.Cut(spec, ":")
	switch mode {
	case "", "ro", "rw":
	default:
		return nil, fmt.Errorf("invalid --volumes-from %q: the mode must be ro or rw: %w", spec, errdefs.ErrInvalidArgument)
	}
	r, err := s.lookupReferenced(ref, "--volumes-from")
	if err != nil {
		return nil, err
	}
	c, err := s.containerStore().Get(ctx, r.id)
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, e := range mountsOf(c) {
		if e.Type == "tmpfs" || e.Type == "image" {
			continue // the image's view belongs to the other container
		}
		e.Anonymous, e.FromImage = false, false
		if mode != "" {
			e.RW = mode == "rw"
			e.Mode = mode
			for i, o := range e.Options {
				if o == "ro" || o == "rw" {
					e.Options[i] = mode
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// mountsOf reads a container's resolved mounts.
func mountsOf(c containers.Container) []mountEntry {
	ext, ok := c.Extensions[extMounts]
	if !ok {
		return nil
	}
	v, err := typeurl.UnmarshalAny(ext)
	if err != nil {
		return nil
	}
	if m, ok := v.(*mountRecord); ok {
		return m.Mounts
	}
	return nil
}

// rollbackMounts removes the volumes a failed create made.
func (s *Service) rollbackMounts(ctx context.Context, p *mountPlan) {
	if p == nil {
		return
	}
	s.removeViews(ctx, p.views)
	if s.opts.Volumes == nil {
		return
	}
	for _, name := range p.created {
		if err := s.opts.Volumes.Remove(context.WithoutCancel(ctx), name, true); err != nil {
			s.log.Warn("rollback: removing volume", "name", name, "err", err)
		}
	}
}

// specOpt mounts the plan's mounts and makes the root read-only if asked.
func (p *mountPlan) specOpt() oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		if p == nil {
			return nil
		}
		if p.readonly {
			if sp.Root == nil {
				sp.Root = &specs.Root{}
			}
			sp.Root.Readonly = true
		}
		// A shared bind needs the container's root shared too, or what is
		// mounted below it inside would not reach the host (as dockerd).
		for _, e := range p.entries {
			if e.Propagation == "shared" || e.Propagation == "rshared" {
				if sp.Linux == nil {
					sp.Linux = &specs.Linux{}
				}
				if rp := sp.Linux.RootfsPropagation; rp != "shared" && rp != "rshared" {
					sp.Linux.RootfsPropagation = "shared"
				}
			}
		}
		// A user's mount over a default one (/dev/shm, /etc/hosts) replaces it.
		taken := map[string]bool{}
		for _, e := range p.entries {
			taken[e.Destination] = true
		}
		kept := sp.Mounts[:0]
		for _, m := range sp.Mounts {
			if !taken[path.Clean(m.Destination)] {
				kept = append(kept, m)
			}
		}
		sp.Mounts = kept
		for _, e := range p.entries {
			sp.Mounts = append(sp.Mounts, specs.Mount{
				Destination: e.Destination, Type: e.SpecType, Source: e.SpecSource,
				Options: append([]string(nil), e.Options...),
			})
		}
		return nil
	}
}

// apply stores the plan with the container record: a label per volume
// (what VolumeUsers reads) and the resolved mounts.
func (p *mountPlan) apply(rec *containers.Container) error {
	if p == nil || len(p.entries) == 0 {
		return nil
	}
	for _, e := range p.entries {
		if e.Type == "image" {
			rec.Labels[labelImageMountPrefix+e.ImageID] = e.View
			rec.Labels[gcSnapshotRef+rec.Snapshotter+"/"+e.View] = e.View
			continue
		}
		if e.Type != "volume" {
			continue
		}
		use := "named"
		if e.Anonymous || e.FromImage {
			use = "anonymous"
		}
		rec.Labels[labelVolumePrefix+e.Name] = use
	}
	ext, err := typeurl.MarshalAny(&mountRecord{Mounts: p.entries})
	if err != nil {
		return err
	}
	if rec.Extensions == nil {
		rec.Extensions = map[string]typeurl.Any{}
	}
	rec.Extensions[extMounts] = ext
	return nil
}

// VolumeUsers returns, for each volume in use, the IDs of the containers
// that use it. The volume service asks it before removing a volume.
func (s *Service) VolumeUsers(ctx context.Context) (map[string][]string, error) {
	list, err := s.containerStore().List(s.ctx(ctx))
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, c := range list {
		for k := range c.Labels {
			if name, ok := strings.CutPrefix(k, labelVolumePrefix); ok {
				users[name] = append(users[name], c.ID)
			}
		}
	}
	return users, nil
}

// anonymousVolumes are the volumes made for the container (rm -v removes them).
func anonymousVolumes(c containers.Container) []string {
	var out []string
	for k, v := range c.Labels {
		if name, ok := strings.CutPrefix(k, labelVolumePrefix); ok && v == "anonymous" {
			out = append(out, name)
		}
	}
	return out
}

// removeVolumes removes volumes after their container is gone; one still
// used by another container is kept (Docker warns and keeps it too).
func (s *Service) removeVolumes(ctx context.Context, names []string) {
	if s.opts.Volumes == nil {
		return
	}
	for _, n := range names {
		if err := s.opts.Volumes.Remove(context.WithoutCancel(ctx), n, true); err != nil {
			s.log.Warn("removing the container's anonymous volume", "name", n, "err", err)
		}
	}
}

// mountPoints is Inspect's Mounts.
func mountPoints(c containers.Container) []containertypes.MountPoint {
	entries := mountsOf(c)
	cfg, _ := configOf(c)
	out := make([]containertypes.MountPoint, 0, len(entries))
	for _, e := range entries {
		if cfg != nil && e.Type == "tmpfs" {
			if _, ok := cfg.Tmpfs[e.Destination]; ok {
				continue // --tmpfs mounts are not listed, as by dockerd
			}
		}
		out = append(out, e.MountPoint)
	}
	return out
}

// autoRemovedVolumes are the anonymous volumes of an --rm container: they
// go with it, as in Docker.
func autoRemovedVolumes(c containers.Container) []string {
	if c.ID == "" {
		return nil
	}
	cfg, err := configOf(c)
	if err != nil || !cfg.AutoRemove {
		return nil
	}
	return anonymousVolumes(c)
}

// recursiveReadOnlySupported says whether the kernel makes a bind read-only
// with the mounts below it (mount_setattr, Linux 5.12), runc's rro.
var recursiveReadOnlySupported = sync.OnceValue(func() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || (major == 5 && minor >= 12)
})

// bindPropagation checks a bind's propagation (want: the user's, or empty)
// and returns the one it gets, with dockerd's rules: rprivate by default,
// but a bind of berthd's root, of a directory below it or of one above it
// gets rslave, and may only be rslave or rshared (a private copy of the
// root would hold the containers' mounts busy). That a shared bind's source
// is on a shared mount is checked at each start (checkShared).
func (s *Service) bindPropagation(src, want string) (string, error) {
	switch want {
	case "", "private", "rprivate", "shared", "rshared", "slave", "rslave":
	default:
		return "", fmt.Errorf("invalid bind-propagation %q: %w", want, errdefs.ErrInvalidArgument)
	}
	if root := s.opts.Root; root != "" && (within(src, root) || within(root, src)) {
		switch want {
		case "":
			return "rslave", nil
		case "rslave", "rshared":
		default:
			return "", fmt.Errorf("invalid mount config: must use either propagation mode \"rslave\" or \"rshared\" when mount source is within the daemon root, daemon root: %q, bind mount source: %q, propagation: %q: %w", root, src, want, errdefs.ErrInvalidArgument)
		}
	}
	if want == "" {
		want = "rprivate"
	}
	return want, nil
}

// within says whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && filepath.IsLocal(rel)
}

// ensureShared checks that the mount holding path is shared: a shared bind
// of it could not propagate anything otherwise.
func ensureShared(p string) error {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	var best *mountinfo.Info
	for _, m := range infos {
		if within(p, m.Mountpoint) && (best == nil || len(m.Mountpoint) >= len(best.Mountpoint)) {
			best = m
		}
	}
	if best == nil {
		return fmt.Errorf("path %s: no mount holds it: %w", p, errdefs.ErrInvalidArgument)
	}
	for _, o := range strings.Fields(best.Optional) {
		if strings.HasPrefix(o, "shared:") {
			return nil
		}
	}
	return fmt.Errorf("path %s is mounted on %s but it is not a shared mount: %w", p, best.Mountpoint, errdefs.ErrInvalidArgument)
}
