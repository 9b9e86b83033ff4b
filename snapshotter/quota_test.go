//go:build linux

package snapshotter

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// xfsImage makes an XFS image in dir, attaches it to a loop device and
// mounts it, with prjquota when quota is set; all undone at the end of the
// test. ok is false when the kernel refused the prjquota mount but takes
// the filesystem without it: a kernel built without XFS quota support
// (CONFIG_XFS_QUOTA); the image is then mounted without prjquota.
func xfsImage(t *testing.T, dir string, quota bool) (mnt string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs (xfsprogs)")
	}
	img := filepath.Join(dir, "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(320 << 20); err != nil { // mkfs.xfs wants ≥ 300 MB
		t.Fatal(err)
	}
	f.Close()
	run(t, "mkfs.xfs", "-q", img)
	dev := run(t, "losetup", "--find", "--show", img)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	mnt = filepath.Join(dir, "xfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	ok = true
	if quota {
		if err := exec.Command("mount", "-t", "xfs", "-o", "prjquota", dev, mnt).Run(); err != nil {
			ok = false
		}
	}
	if !quota || !ok {
		run(t, "mount", "-t", "xfs", dev, mnt)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount xfs: %v", err)
		}
	})
	return mnt, ok
}

// writeBytes writes n bytes to path in 1 MiB chunks and syncs.
func writeBytes(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for n > 0 {
		c := min(n, len(buf))
		if _, err := f.Write(buf[:c]); err != nil {
			f.Close()
			return err
		}
		n -= c
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestSizeLimitXFS: a snapshot prepared with LabelSize=10M on XFS with
// project quotas takes 5 MB but not 20 MB more, through its overlay mount;
// a snapshot without the label is not limited.
func TestSizeLimitXFS(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	mnt, ok := xfsImage(t, dir, true)
	if !ok {
		t.Skip("this kernel mounts XFS but not with prjquota: it was built without XFS quota support (CONFIG_XFS_QUOTA)")
	}
	sn, err := New(ctx, filepath.Join(mnt, "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	if !sn.QuotaSupported() {
		t.Fatalf("XFS with prjquota: quotas not detected: %v", sn.quotaErr)
	}
	commitLayer(t, ctx, sn, "base", "", func(upper string) {
		writeFile(t, filepath.Join(upper, "lower"), "from the image")
	})

	mounts, err := sn.Prepare(ctx, "limited", "base", snapshots.WithLabels(map[string]string{LabelSize: "10M"}))
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts, dir)
	if err := writeBytes(filepath.Join(target, "fits"), 5<<20); err != nil {
		t.Fatalf("5 MiB under a 10 MiB limit: %v", err)
	}
	err = writeBytes(filepath.Join(target, "too-much"), 20<<20)
	if !errors.Is(err, syscall.EDQUOT) && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 20 MiB more under a 10 MiB limit: %v, want EDQUOT or ENOSPC", err)
	}
	if got := readFile(t, filepath.Join(target, "lower")); got != "from the image" {
		t.Fatalf("lower file: %q", got)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}

	free, err := sn.Prepare(ctx, "unlimited", "base")
	if err != nil {
		t.Fatal(err)
	}
	target = mountTemp(t, free, dir)
	if err := writeBytes(filepath.Join(target, "big"), 20<<20); err != nil {
		t.Fatalf("20 MiB without a limit: %v", err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"limited", "unlimited", "base"} {
		if err := sn.Remove(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSizeLimitUnsupported: where the root's filesystem cannot enforce a
// limit, Prepare with LabelSize fails with ErrNotImplemented naming the
// root, in-process and through the ttrpc proxy; a bad value is
// InvalidArgument. Nothing is created.
func TestSizeLimitUnsupported(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	root := filepath.Join(dir, "root")
	sn := newTestSnapshotter(t, root)
	if sn.QuotaSupported() {
		t.Skip("the temp dir's filesystem enforces project quotas")
	}
	client, stop, err := serveProxy(sn, filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	limit := snapshots.WithLabels(map[string]string{LabelSize: "10M"})
	for name, s := range map[string]snapshots.Snapshotter{"in-process": sn, "proxy": client} {
		_, err := s.Prepare(ctx, "c", "", limit)
		if !errdefs.IsNotImplemented(err) {
			t.Fatalf("%s: %v, want ErrNotImplemented", name, err)
		}
		if !strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "quota") {
			t.Fatalf("%s: message does not say quotas and where the root is: %v", name, err)
		}
		_, err = s.Prepare(ctx, "c", "", snapshots.WithLabels(map[string]string{LabelSize: "ten megs"}))
		if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("%s: bad size: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := sn.Stat(ctx, "c"); !errdefs.IsNotFound(err) {
		t.Fatalf("refused snapshot exists: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(entries) != 0 {
		t.Fatalf("refused snapshot left directories: %v", entries)
	}
}

// TestSizeLimitXFSWithoutQuota: on XFS mounted without prjquota a size
// limit is refused, not ignored; project ids (FS_IOC_FSSETXATTR) are set
// and inherited all the same.
func TestSizeLimitXFSWithoutQuota(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	mnt, _ := xfsImage(t, dir, false)
	root := filepath.Join(mnt, "root")
	sn, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	if sn.QuotaSupported() {
		t.Fatal("quotas reported on XFS mounted without prjquota")
	}
	_, err = sn.Prepare(ctx, "c", "", snapshots.WithLabels(map[string]string{LabelSize: "10M"}))
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), root) {
		t.Fatalf("Prepare with a size limit: %v, want ErrNotImplemented naming %s", err, root)
	}

	d := filepath.Join(mnt, "project")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := setProjectID(d, 4242); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d, "sub", "file"), "x")
	for _, p := range []string{d, filepath.Join(d, "sub"), filepath.Join(d, "sub", "file")} {
		id, err := getProjectID(p)
		if err != nil {
			t.Fatal(err)
		}
		if id != 4242 {
			t.Fatalf("%s: project id %d, want 4242", p, id)
		}
	}
}

// TestQuotaStructLayout: the kernel structs copied by hand have the kernel's
// sizes (struct fsxattr 28 bytes, struct fs_disk_quota 112 bytes).
func TestQuotaStructLayout(t *testing.T) {
	if n := unsafe.Sizeof(fsxattr{}); n != 28 {
		t.Fatalf("fsxattr is %d bytes, want 28", n)
	}
	if n := unsafe.Sizeof(fsDiskQuota{}); n != 112 {
		t.Fatalf("fs_disk_quota is %d bytes, want 112", n)
	}
	if off := unsafe.Offsetof(fsDiskQuota{}.blkHardlimit); off != 8 {
		t.Fatalf("d_blk_hardlimit at %d, want 8", off)
	}
	if off := unsafe.Offsetof(fsDiskQuota{}.rtbHardlimit); off != 72 {
		t.Fatalf("d_rtb_hardlimit at %d, want 72", off)
	}
}
