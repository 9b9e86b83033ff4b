// Package volume is the engine's volume service: named and anonymous
// volumes of the "local" driver, kept under <root>/volumes like Docker's.
//
// Each volume is a directory <root>/volumes/<name>/ holding meta.json (its
// settings, written atomically: temp file, fsync, rename) and _data (its
// content, unless its options name a tmpfs or a bind of another host
// directory). A volume is created whole or not at all: the directory is
// assembled under a temp name and renamed into place.
//
// Which containers use a volume is known only to the container service;
// the service asks it through Options.InUse, so a volume in use is never
// removed and `ls --filter dangling=true` is right.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	eventbus "github.com/berthproject/berth/engine/events"
	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/berthproject/berth/pkg/fsarchive"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/filters"
	volumetypes "github.com/berthproject/berth/pkg/types/volume"
)

// InUseFunc reports, for every volume in use, the IDs of the containers
// that use it.
type InUseFunc func(ctx context.Context) (map[string][]string, error)

// Options configure a Service.
type Options struct {
	// Root is berth's root: volumes live in <Root>/volumes.
	Root   string
	InUse  InUseFunc
	Events *eventbus.Bus
	Logger *slog.Logger
}

// Service manages volumes.
type Service struct {
	dir  string
	opts Options
	log  *slog.Logger
	// mu serialises changes (create, remove, import) against each other.
	mu sync.Mutex
}

// New returns the service over <opts.Root>/volumes, creating the directory
// and removing what an interrupted create left.
func New(opts Options) (*Service, error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("volume service needs a root: %w", errdefs.ErrInvalidArgument)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{dir: filepath.Join(opts.Root, "volumes"), opts: opts, log: opts.Logger}
	if err := os.MkdirAll(s.dir, 0o701); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
	return s, nil
}

func (s *Service) path(name string) string     { return filepath.Join(s.dir, name) }
func (s *Service) dataPath(name string) string { return filepath.Join(s.dir, name, "_data") }

// Create makes a volume. An empty name makes an anonymous volume with a
// random 64-hex name. Creating a volume that exists returns it when the
// driver and options agree (Docker's idempotent create).
func (s *Service) Create(ctx context.Context, o volumetypes.CreateOptions) (*volumetypes.Volume, error) {
	if o.Driver == "" {
		o.Driver = volumetypes.DriverLocal
	}
	if o.Driver != volumetypes.DriverLocal {
		// dockerd's answer for a driver it has no plugin for.
		return nil, fmt.Errorf("plugin %q not found: berth has the local volume driver only: %w", o.Driver, errdefs.ErrNotFound)
	}
	if o.Name == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		o.Name, o.Anonymous = hex.EncodeToString(b[:]), true
	}
	if err := volumetypes.ValidName(o.Name); err != nil {
		return nil, err
	}
	if err := checkOptions(o.Options); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, err := s.read(o.Name); err == nil {
		if !sameMap(v.Options, o.Options) {
			return nil, fmt.Errorf("volume %s exists with other options: %w", o.Name, errdefs.ErrConflict)
		}
		return v, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	v := &volumetypes.Volume{
		Name: o.Name, Driver: o.Driver, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Labels: o.Labels, Options: o.Options, Scope: "local", Anonymous: o.Anonymous,
	}
	tmp, err := os.MkdirTemp(s.dir, ".new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return nil, err
	}
	if err := writeMeta(tmp, v); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o701); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, s.path(o.Name)); err != nil {
		return nil, fmt.Errorf("creating volume %s: %w", o.Name, err)
	}
	syncDir(s.dir)
	v.Mountpoint = s.mountpoint(v)
	s.publish(v.Name, "create")
	return v, nil
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkOptions validates the local driver's options.
func checkOptions(o map[string]string) error {
	for k := range o {
		switch k {
		case "type", "device", "o", "size":
		default:
			return fmt.Errorf("invalid option key: %q (the local driver takes type, device, o): %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if isBind(o) {
		dev := o["device"]
		if !filepath.IsAbs(dev) {
			return fmt.Errorf("a bind volume needs an absolute device path (o=bind,device=/path), got %q: %w", dev, errdefs.ErrInvalidArgument)
		}
		st, err := os.Stat(dev)
		if err != nil {
			return fmt.Errorf("bind volume device %s: %w: %w", dev, err, errdefs.ErrInvalidArgument)
		}
		if !st.IsDir() {
			return fmt.Errorf("bind volume device %s is not a directory: %w", dev, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if t := o["type"]; t != "" && t != "tmpfs" && o["device"] == "" {
		return fmt.Errorf("volume type %s needs a device: %w", t, errdefs.ErrInvalidArgument)
	}
	if o["type"] == "" && (o["device"] != "" || o["o"] != "") {
		return fmt.Errorf("volume options device and o need a type (or o=bind): %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

func isBind(o map[string]string) bool {
	for _, opt := range strings.Split(o["o"], ",") {
		if opt == "bind" || opt == "rbind" {
			return true
		}
	}
	return false
}

// mountpoint is where the volume's content is on the host ("" for a
// tmpfs volume, whose content lives only in its containers).
func (s *Service) mountpoint(v *volumetypes.Volume) string {
	switch {
	case isBind(v.Options):
		return v.Options["device"]
	case v.Options["type"] != "":
		return ""
	}
	return s.dataPath(v.Name)
}

// writeMeta writes dir/meta.json atomically and durably.
func writeMeta(dir string, v *volumetypes.Volume) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "meta.json"), b, 0o600)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// read loads a volume's metadata.
func (s *Service) read(name string) (*volumetypes.Volume, error) {
	if volumetypes.ValidName(name) != nil {
		return nil, fmt.Errorf("No such volume: %s: %w", name, errdefs.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(s.path(name), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("No such volume: %s: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var v volumetypes.Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("volume %s: bad metadata: %w", name, err)
	}
	v.Name = name
	v.Mountpoint = s.mountpoint(&v)
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	return &v, nil
}

// Get returns a volume without its users.
func (s *Service) Get(ctx context.Context, name string) (*volumetypes.Volume, error) {
	return s.read(name)
}

// Inspect returns a volume with the containers that use it.
func (s *Service) Inspect(ctx context.Context, name string) (*volumetypes.Volume, error) {
	v, err := s.read(name)
	if err != nil {
		return nil, err
	}
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	v.UsedBy = users[name]
	return v, nil
}

func (s *Service) users(ctx context.Context) (map[string][]string, error) {
	if s.opts.InUse == nil {
		return nil, nil
	}
	return s.opts.InUse(ctx)
}

// List returns the volumes sorted by name. Filters are Docker's: name
// (substring), label (key or key=value), dangling (true: no container
// uses it), driver.
func (s *Service) List(ctx context.Context, filters map[string][]string) ([]*volumetypes.Volume, error) {
	for k := range filters {
		switch k {
		case "name", "label", "dangling", "driver":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	var out []*volumetypes.Volume
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		v, err := s.read(e.Name())
		if err != nil {
			if !errdefs.IsNotFound(err) {
				s.log.Warn("skipping volume", "name", e.Name(), "err", err)
			}
			continue
		}
		v.UsedBy = users[v.Name]
		ok, err := match(v, filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func match(v *volumetypes.Volume, filters map[string][]string) (bool, error) {
	for key, values := range filters {
		ok := false
		for _, f := range values {
			switch key {
			case "name":
				ok = ok || strings.Contains(v.Name, f)
			case "driver":
				ok = ok || v.Driver == f
			case "label":
				// every label filter must hold, as Docker's
				k, val, hasVal := strings.Cut(f, "=")
				got, has := v.Labels[k]
				if !has || (hasVal && got != val) {
					return false, nil
				}
				ok = true
			case "dangling":
				switch f {
				case "true", "1":
					ok = ok || len(v.UsedBy) == 0
				case "false", "0":
					ok = ok || len(v.UsedBy) > 0
				default:
					return false, fmt.Errorf("invalid filter 'dangling=%s': want true or false: %w", f, errdefs.ErrInvalidArgument)
				}
			}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Remove deletes a volume and its content. A volume in use is refused
// (errdefs.ErrConflict), with force too: force only makes a missing
// volume no error, as Docker's `volume rm -f`.
func (s *Service) Remove(ctx context.Context, name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, name, force)
}

func (s *Service) removeLocked(ctx context.Context, name string, force bool) error {
	if _, err := s.read(name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	users, err := s.users(ctx)
	if err != nil {
		return err
	}
	if u := users[name]; len(u) > 0 {
		ids := make([]string, len(u))
		for i, id := range u {
			ids[i] = id[:min(12, len(id))]
		}
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(ids, ", "), errdefs.ErrConflict)
	}
	// Rename first: a crash mid-removal leaves a hidden directory that
	// New cleans up, never a half-removed volume.
	trash := filepath.Join(s.dir, ".rm-"+name)
	if err := os.Rename(s.path(name), trash); err != nil {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	syncDir(s.dir)
	if err := removeAllNoMounts(trash); err != nil {
		s.log.Warn("removing volume data", "name", name, "err", err)
	}
	s.publish(name, "destroy")
	return nil
}

// removeAllNoMounts removes a tree but never crosses into a mount (a
// stale bind mount on _data must not take the host directory with it).
func removeAllNoMounts(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	return removeTree(dir, st.Dev)
}

func removeTree(p string, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Dev != dev {
		return fmt.Errorf("%s is a mount point: not removed", p)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := removeTree(filepath.Join(p, e.Name()), dev); err != nil {
				return err
			}
		}
	}
	return os.Remove(p)
}

// Prune removes unused volumes: anonymous ones, and named ones too with
// All. It returns the removed names and the bytes they held.
func (s *Service) Prune(ctx context.Context, o volumetypes.PruneOptions) (deleted []string, reclaimed uint64, err error) {
	for k := range o.Filters {
		if k != "label" && k != "label!" {
			return nil, 0, fmt.Errorf("invalid filter '%s': volume prune takes label and label!=: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	list, err := s.List(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range list {
		if len(v.UsedBy) > 0 || (!v.Anonymous && !o.All) || !pruneLabels(v, o.Filters) {
			continue
		}
		size := dirSize(s.dataPath(v.Name))
		if err := s.removeLocked(ctx, v.Name, false); err != nil {
			if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
				continue // taken or removed meanwhile
			}
			return deleted, reclaimed, err
		}
		deleted = append(deleted, v.Name)
		reclaimed += size
	}
	return deleted, reclaimed, nil
}

func pruneLabels(v *volumetypes.Volume, f map[string][]string) bool {
	return filters.Labels(v.Labels, f["label"], f["label!"])
}

// Size is the apparent size of the files in the volume's data (what
// `volume prune` reclaims and `system df` shows).
func (s *Service) Size(name string) int64 { return int64(dirSize(s.dataPath(name))) }

func dirSize(dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

// Export writes the volume's content to w as a tar (entries relative to
// the volume's root).
func (s *Service) Export(ctx context.Context, name string, w io.Writer) error {
	v, err := s.read(name)
	if err != nil {
		return err
	}
	if v.Mountpoint == "" {
		return fmt.Errorf("volume %s is a tmpfs: its content lives only in its containers: %w", name, errdefs.ErrFailedPrecondition)
	}
	r, err := os.OpenRoot(v.Mountpoint)
	if err != nil {
		return err
	}
	defer r.Close()
	return fsarchive.Tar(w, r, ".", ".")
}

// Import extracts the tar read from r into the volume, creating the volume
// when it does not exist. Entries that would land outside the volume
// (absolute names, "..", through symlinks) fail the import. A failed import
// into a volume it created removes that volume: nothing is left behind (an
// existing volume keeps what was extracted before the failure, as tar -x).
func (s *Service) Import(ctx context.Context, name string, r io.Reader) (err error) {
	v, err := s.read(name)
	created := false
	if errdefs.IsNotFound(err) {
		if err := volumetypes.ValidName(name); err != nil {
			return err
		}
		v, err = s.Create(ctx, volumetypes.CreateOptions{Name: name})
		created = err == nil
	}
	if err != nil {
		return err
	}
	if created {
		defer func() {
			if err != nil {
				if rerr := s.Remove(context.WithoutCancel(ctx), name, false); rerr != nil {
					err = fmt.Errorf("%w (and removing the volume it created: %v)", err, rerr)
				}
			}
		}()
	}
	if v.Mountpoint == "" {
		return fmt.Errorf("volume %s is a tmpfs: nothing to import into: %w", name, errdefs.ErrFailedPrecondition)
	}
	root, err := os.OpenRoot(v.Mountpoint)
	if err != nil {
		return err
	}
	defer root.Close()
	return importInto(root, r)
}

// importInto extracts the tar read from r into root, as tar -x does (an
// entry replaces what has its name, the rest stays), so that a failed
// import leaves root as it was: the archive is extracted into a staging
// directory inside root (the same file system), and only a whole archive
// is moved into place, entry by entry, by rename.
func importInto(root *os.Root, r io.Reader) error {
	stage := ".berth-import-" + randomHex(8)
	if err := root.Mkdir(stage, 0o700); err != nil {
		return fmt.Errorf("staging the import: %w", err)
	}
	defer func() { _ = root.RemoveAll(stage) }()
	sr, err := root.OpenRoot(stage)
	if err != nil {
		return fmt.Errorf("staging the import: %w", err)
	}
	hasRoot := false // the archive's "./" entry: its mode and owner are the volume root's
	err = fsarchive.Untar(r, sr, fsarchive.UntarOptions{Chown: true, Rename: func(n string) string {
		hasRoot = hasRoot || n == "."
		return n
	}})
	sr.Close()
	if err != nil {
		return err
	}
	if err := mergeStaged(root, stage, "."); err != nil {
		return err
	}
	if hasRoot {
		return copyDirMeta(root, stage, ".")
	}
	return nil
}

// copyDirMeta gives directory dst of root the mode, owner and times of
// directory src.
func copyDirMeta(root *os.Root, src, dst string) error {
	fi, err := root.Lstat(src)
	if err != nil {
		return err
	}
	if err := root.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := root.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	_ = root.Chtimes(dst, fi.ModTime(), fi.ModTime())
	return nil
}

// mergeStaged moves the entries of stage/dir into dir of root: a directory
// that exists on both sides is merged (and takes the archive's mode, owner
// and times), anything else replaces what root has under that name.
func mergeStaged(root *os.Root, stage, dir string) error {
	f, err := root.Open(filepath.Join(stage, dir))
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, dst := filepath.Join(stage, dir, e.Name()), filepath.Join(dir, e.Name())
		sfi, err := root.Lstat(src)
		if err != nil {
			return err
		}
		dfi, derr := root.Lstat(dst)
		if derr == nil && sfi.IsDir() && dfi.IsDir() {
			if err := mergeStaged(root, stage, dst); err != nil {
				return err
			}
			if err := copyDirMeta(root, src, dst); err != nil {
				return err
			}
			continue
		}
		if derr == nil {
			if err := root.RemoveAll(dst); err != nil {
				return err
			}
		}
		if err := root.Rename(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// DataPath is the directory of a plain volume's content.
func (s *Service) DataPath(name string) string { return s.dataPath(name) }

func (s *Service) publish(name, action string) {
	if s.opts.Events == nil {
		return
	}
	s.opts.Events.Publish(events.Message{
		Type: events.TypeVolume, Action: action,
		Actor: events.Actor{ID: name, Attributes: map[string]string{"driver": volumetypes.DriverLocal}},
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
