// Package fsarchive writes and extracts tar archives of file trees that
// belong to someone else — a container's root file system, a volume —
// without ever reading or writing outside them.
//
// Two guarantees make that hold even while the tree changes under us (a
// running container can swap a directory for a symlink at any time):
//   - a path inside the tree is resolved by the kernel with openat2's
//     RESOLVE_IN_ROOT: symlinks and ".." resolve as if the tree were "/"
//     (chroot semantics, what the container itself sees);
//   - every read and write below the resolved directory goes through an
//     os.Root, which refuses any step that would leave it.
//
// Archive entries never name anything outside the target either: "../"
// and absolute names are refused, symlinks are created as symlinks and
// never followed while extracting.
package fsarchive

import (
	"archive/tar"
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
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// OpenInRoot opens the directory or file p inside root with chroot
// semantics (symlinks and ".." cannot leave root). The result is an O_PATH
// handle; use it with OpenRoot or Stat.
func OpenInRoot(root, p string) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := Openat2(rfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Openat2 is openat2(2), tried again while the kernel asks to: EAGAIN
// when a rename or mount anywhere on the host raced the resolution of
// ".." under RESOLVE_IN_ROOT or RESOLVE_BENEATH (the kernel cannot vouch
// it stayed inside; a busy host, containers starting, gives a few in a
// row), and EINTR. At most openRetries times: an endless stream of
// renames must not hold a request forever.
func Openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	fd, err := unix.Openat2(dirfd, path, how)
	for try := 0; try < openRetries && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)); try++ {
		fd, err = unix.Openat2(dirfd, path, how)
	}
	return fd, err
}

const openRetries = 1000

// handlePath is the /proc path that reopens an O_PATH handle: the kernel
// follows it to the very inode, not by name, so no rename can redirect it.
func handlePath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// OpenRootIn resolves the directory p inside root (chroot semantics) and
// opens it as an os.Root.
func OpenRootIn(root, p string) (*os.Root, error) {
	h, err := OpenInRoot(root, p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	r, err := os.OpenRoot(handlePath(h))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return r, nil
}

// Stat is what a path is, without following a final symlink.
type Stat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       fs.FileMode `json:"mode"`
	ModTime    time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// LstatInRoot stats p inside root: its parent is resolved with chroot
// semantics, the final component is not followed.
func LstatInRoot(root, p string) (Stat, error) {
	dir, base := SplitPath(p)
	r, err := OpenRootIn(root, dir)
	if err != nil {
		return Stat{}, err
	}
	defer r.Close()
	return Lstat(r, base)
}

// Lstat describes the entry name of r ("/" names r itself), without
// following a final symlink.
func Lstat(r *os.Root, name string) (Stat, error) {
	fi, err := r.Lstat(name)
	if err != nil {
		return Stat{}, err
	}
	st := Stat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}
	if name == "." {
		st.Name = "/"
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		st.LinkTarget, _ = r.Readlink(name)
	}
	return st, nil
}

// ReadDirInRoot lists the directory p inside root (chroot semantics), its
// entries described as LstatInRoot does, in name order.
func ReadDirInRoot(root, p string) ([]Stat, error) {
	r, err := OpenRootIn(root, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	d, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Stat, 0, len(names))
	for _, n := range names {
		st, err := Lstat(r, n)
		if err != nil {
			continue // gone since the listing
		}
		out = append(out, st)
	}
	return out, nil
}

// SplitPath splits a cleaned absolute path into its directory and its base
// name ("." for "/" itself).
func SplitPath(p string) (dir, base string) {
	p = path.Clean("/" + p)
	if p == "/" {
		return "/", "."
	}
	return path.Dir(p), path.Base(p)
}

// ArchiveTop is the top entry's name in the archive of a container's path p,
// as dockerd names it: "." for a path ending in "." (a directory's
// contents: "./", "./file"), "/" for the root ("/", "/file"), the base name
// otherwise.
func ArchiveTop(p string) string {
	if t := strings.TrimRight(p, "/"); t == "." || strings.HasSuffix(t, "/.") {
		return "."
	}
	return path.Base(path.Clean("/" + p))
}

// FollowsLast reports whether p names what its last symlink points to
// rather than the link: a path ending in "/" or "/." (Docker's cp rule).
func FollowsLast(p string) bool {
	return strings.HasSuffix(p, "/") || ArchiveTop(p) == "."
}

// Tar writes the entry name of r (a file, a symlink or a whole directory
// tree; "." for r itself) to w, its entries named with prefix in place of
// name ("" for the tree's contents only, unprefixed). Symlinks are stored,
// never followed.
func Tar(w io.Writer, r *os.Root, name, prefix string) error {
	tw := tar.NewWriter(w)
	if err := tarEntry(tw, r, name, prefix); err != nil {
		return err
	}
	return tw.Close()
}

func tarEntry(tw *tar.Writer, r *os.Root, name, arcName string) error {
	fi, err := r.Lstat(name)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = r.Readlink(name); err != nil {
			return err
		}
	}
	if arcName != "" {
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = arcName
		if fi.IsDir() && !strings.HasSuffix(hdr.Name, "/") { // the root's is "/"
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := r.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		// The header promised fi.Size() bytes: a file that changed size
		// meanwhile is cut or padded rather than corrupting the archive.
		n, err := io.Copy(tw, io.LimitReader(f, fi.Size()))
		if err != nil {
			return err
		}
		if n < fi.Size() {
			if _, err := io.CopyN(tw, zeros{}, fi.Size()-n); err != nil {
				return err
			}
		}
	case fi.IsDir():
		d, err := r.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, e := range entries {
			child := e.Name()
			if name != "." {
				child = name + "/" + child
			}
			sub := e.Name()
			if arcName != "" {
				sub = strings.TrimSuffix(arcName, "/") + "/" + e.Name()
			}
			if err := tarEntry(tw, r, child, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// UntarOptions configure Untar.
type UntarOptions struct {
	// Rename maps an entry's cleaned name to the name to create ("" skips
	// the entry). nil keeps names.
	Rename func(name string) string
	// Chown keeps the archive's owners (else the files belong to the
	// extracting user).
	Chown bool
	// RootNames reads names below "/" as below "." (the archive of a
	// container's root, ArchiveTop "/"), instead of refusing them.
	RootNames bool
	// Sync makes r a copy of the archive: a regular file already there
	// with the entry's size, mode, mtime (to the nanosecond) and, with
	// Chown, owner is kept unwritten, and whatever the archive does not
	// name is removed at the end. For a directory kept across extractions
	// of successive versions of one tree.
	Sync bool
}

// Untar extracts the tar read from rd into r. Entries with absolute names
// or ".." are refused, as are hard links to outside r; symlinks are made as
// they are and never followed (a later entry through a symlink that leaves
// r fails).
func Untar(rd io.Reader, r *os.Root, opts UntarOptions) error {
	tr := tar.NewReader(rd)
	type dirTimes struct {
		name string
		t    time.Time
	}
	var dirs []dirTimes
	var seen map[string]bool
	if opts.Sync {
		seen = map[string]bool{".": true}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		if opts.RootNames && strings.HasPrefix(hdr.Name, "/") {
			hdr.Name = "." + hdr.Name
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if opts.Rename != nil {
			if name = opts.Rename(name); name == "" {
				continue
			}
		}
		if seen != nil {
			for p := name; p != "." && !seen[p]; p = path.Dir(p) {
				seen[p] = true
			}
			if kept, ok := hdr.PAXRecords[PAXKept]; ok {
				if err := checkKept(r, hdr, name, kept, opts.Chown); err != nil {
					return err
				}
				continue
			}
			if unchanged(r, hdr, name, opts.Chown) {
				continue
			}
		} else if _, ok := hdr.PAXRecords[PAXKept]; ok {
			return fmt.Errorf("archive entry %q stands for a file already in the target, but the extraction keeps none: %w", hdr.Name, errdefs.ErrInvalidArgument)
		}
		if err := extract(tr, r, hdr, name, opts); err != nil {
			if escapes(err) {
				return fmt.Errorf("archive entry %q leaves the target through a symlink: %w", hdr.Name, errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTimes{name, hdr.ModTime})
		}
	}
	if seen != nil {
		if err := removeUnseen(r, seen); err != nil {
			return err
		}
	}
	// Directory times last: extracting into a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = r.Chtimes(dirs[i].name, dirs[i].t, dirs[i].t)
	}
	return nil
}

// PAXKept, a PAX record of a regular file's entry without content, says
// that the file is in the target already (Untar with Sync): the record is
// its size, the header its other attributes. A client that knows what
// the target holds sends only the files that changed.
const PAXKept = "BERTH.kept"

// checkKept checks that the file an entry with PAXKept stands for is
// there as the entry describes it.
func checkKept(r *os.Root, hdr *tar.Header, name, size string, chown bool) error {
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || hdr.Size != 0 {
		return fmt.Errorf("archive entry %q: bad %s record %q: %w", hdr.Name, PAXKept, size, errdefs.ErrInvalidArgument)
	}
	h := *hdr
	h.Size = n
	if !unchanged(r, &h, name, chown) {
		return fmt.Errorf("archive entry %q stands for a file already in the target, which is not there as described: %w", hdr.Name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// unchanged reports whether name is a regular file as hdr describes it.
func unchanged(r *os.Root, hdr *tar.Header, name string, chown bool) bool {
	//lint:ignore SA1019 archives written by old tars mark regular files with TypeRegA
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
		return false
	}
	fi, err := r.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	want := hdr.FileInfo().Mode()
	want = want.Perm() | want&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if fi.Size() != hdr.Size || fi.Mode() != want || !fi.ModTime().Equal(hdr.ModTime) {
		return false
	}
	if chown {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != hdr.Uid || int(st.Gid) != hdr.Gid {
			return false
		}
	}
	return true
}

// removeUnseen removes what r holds that the archive did not name.
func removeUnseen(r *os.Root, seen map[string]bool) error {
	var gone []string
	err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !seen[p] {
			gone = append(gone, p)
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range gone {
		if err := r.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// escapes reports whether err is os.Root refusing a path that leaves the
// root (through a symlink of the archive): the archive's fault, not the
// host's. The os package exports no sentinel for it, only its text.
func escapes(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}

// entryName validates an archive entry's name and returns it cleaned and
// relative ("." for the archive's root).
func entryName(n string) (string, error) {
	if n == "" {
		return "", fmt.Errorf("archive entry with an empty name: %w", errdefs.ErrInvalidArgument)
	}
	if path.IsAbs(n) || strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("archive entry %q has an absolute name: %w", n, errdefs.ErrInvalidArgument)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive entry %q leaves the target (..): %w", n, errdefs.ErrInvalidArgument)
		}
	}
	return path.Clean(n), nil
}

func extract(tr *tar.Reader, r *os.Root, hdr *tar.Header, name string, opts UntarOptions) error {
	if dir := path.Dir(name); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := hdr.FileInfo().Mode()
	if hdr.Typeflag != tar.TypeDir && name != "." {
		// Replace what is there (never write through it), unless it is a
		// directory: tar -x keeps existing directories.
		if fi, err := r.Lstat(name); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if fi.IsDir() {
				if err := r.RemoveAll(name); err != nil {
					return err
				}
			} else if err := r.Remove(name); err != nil {
				return err
			}
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		fi, err := r.Lstat(name)
		switch {
		case err == nil && fi.IsDir():
		case err == nil:
			if err := r.Remove(name); err != nil {
				return err
			}
			fallthrough
		default:
			if err := r.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		if err := r.Chmod(name, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	//lint:ignore SA1019 archives written by old tars mark regular files with TypeRegA
	case tar.TypeReg, tar.TypeRegA:
		f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := r.Chmod(name, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := r.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil {
			return err
		}
		if opts.Rename != nil {
			if target = opts.Rename(target); target == "" {
				return fmt.Errorf("hard link to %q, which is not extracted: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
			}
		}
		if err := r.Link(target, name); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		// Device nodes are not restored (no mknod in an os.Root); a fifo
		// neither: a container's data worth copying is files.
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
	if opts.Chown {
		if err := r.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeDir {
		_ = r.Chtimes(name, hdr.AccessTime, hdr.ModTime)
	}
	return nil
}

// Plan is where an archive of a source goes under Docker's `cp` rules.
type Plan struct {
	// Dir is the existing directory to extract into.
	Dir string
	// Rename maps the archive's top-level name to this one ("" keeps it).
	Rename string
	// Contents: extract what is inside the top-level directory, not the
	// directory itself (SRC ended in "/.").
	Contents bool
}

// CopyRules applies Docker's `cp` rules. srcIsDir says what the source is,
// srcContents that its path ended in "/."; dst is the destination path as
// given, dstStat its stat (nil if it does not exist).
func CopyRules(srcIsDir, srcContents bool, dst string, dstStat *Stat) (Plan, error) {
	trailing := strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")
	clean := filepath.Clean(dst)
	if dstStat != nil && dstStat.Mode.IsDir() {
		return Plan{Dir: clean, Contents: srcIsDir && srcContents}, nil
	}
	if dstStat != nil {
		if srcIsDir {
			return Plan{}, fmt.Errorf("cannot copy a directory to a file: %s: %w", dst, errdefs.ErrInvalidArgument)
		}
		if trailing {
			return Plan{}, fmt.Errorf("%s is not a directory: %w", dst, errdefs.ErrInvalidArgument)
		}
		return Plan{Dir: filepath.Dir(clean), Rename: filepath.Base(clean)}, nil
	}
	if trailing && !srcIsDir {
		return Plan{}, fmt.Errorf("no such directory: %s: %w", dst, errdefs.ErrNotFound)
	}
	// A missing destination is created as a copy of the source (its
	// contents for a directory).
	return Plan{Dir: filepath.Dir(clean), Rename: filepath.Base(clean)}, nil
}

// Renamer returns the UntarOptions.Rename that puts an archive whose
// top-level entry is top where p says.
func (p Plan) Renamer(top string) func(string) string {
	return func(name string) string {
		rest, ok := strings.CutPrefix(name, top)
		if !ok || (rest != "" && rest[0] != '/') {
			if top == "." {
				rest = "/" + name
				if name == "." {
					rest = ""
				}
			} else {
				return "" // not under the top entry: not ours to write
			}
		}
		if p.Contents {
			return strings.TrimPrefix(rest, "/")
		}
		base := top
		if p.Rename != "" {
			base = p.Rename
		}
		return base + rest
	}
}
