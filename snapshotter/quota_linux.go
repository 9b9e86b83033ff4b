package snapshotter

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Project quotas (XFS, or ext4 with the project feature): every size-limited
// snapshot directory gets its own project id, set with FS_IOC_FSSETXATTR and
// inherited by everything created below it, and a block hard limit on that
// project set with quotactl(Q_XSETQLIM).
//
// Project id of snapshot <id>: the project id of the snapshots directory
// plus <id>. Two quota-using snapshotter roots on one filesystem would
// share ids: give each its own filesystem.

const (
	fsIocFsGetXattr = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIocFsSetXattr = 0x401c5820 // _IOW('X', 32, struct fsxattr)

	fsXflagProjInherit = 0x200

	prjQuota    = 2
	qXGetQStat  = 'X'<<8 + 5
	qXSetQLim   = 'X'<<8 + 4
	fsDquotVer  = 1
	fsProjQuota = 2
	fsDqBSoft   = 1 << 2
	fsDqBHard   = 1 << 3

	fsQuotaPdqAcct = 1 << 4
	fsQuotaPdqEnfd = 1 << 5
)

// fsxattr is struct fsxattr of linux/fs.h.
type fsxattr struct {
	xflags     uint32
	extsize    uint32
	nextents   uint32
	projid     uint32
	cowextsize uint32
	pad        [8]byte
}

// fsDiskQuota is struct fs_disk_quota of linux/dqblk_xfs.h.
type fsDiskQuota struct {
	version      int8
	flags        int8
	fieldmask    uint16
	id           uint32
	blkHardlimit uint64
	blkSoftlimit uint64
	inoHardlimit uint64
	inoSoftlimit uint64
	bcount       uint64
	icount       uint64
	itimer       int32
	btimer       int32
	iwarns       uint16
	bwarns       uint16
	itimerHi     int8
	btimerHi     int8
	rtbtimerHi   int8
	padding2     int8
	rtbHardlimit uint64
	rtbSoftlimit uint64
	rtbcount     uint64
	rtbtimer     int32
	rtbwarns     uint16
	padding3     int16
	padding4     [8]byte
}

type projectQuota struct {
	dir  string // the snapshots directory
	base uint32 // project id of dir
}

func qcmd(cmd, typ int) int { return cmd<<8 | typ&0xff }

// newProjectQuota checks that the filesystem of dir enforces project quotas.
func newProjectQuota(dir string) (*projectQuota, error) {
	base, err := getProjectID(dir)
	if err != nil {
		return nil, fmt.Errorf("project ids: %w", err)
	}
	var stat [256]byte // struct fs_quota_stat; qs_flags is the u16 at offset 2
	if err := quotactl(dir, qcmd(qXGetQStat, prjQuota), 0, unsafe.Pointer(&stat[0])); err != nil {
		return nil, fmt.Errorf("quota state: %w", err)
	}
	flags := uint16(stat[2]) | uint16(stat[3])<<8
	if flags&fsQuotaPdqAcct == 0 || flags&fsQuotaPdqEnfd == 0 {
		return nil, errors.New("project quotas are not enforced (mount option prjquota missing)")
	}
	return &projectQuota{dir: dir, base: base}, nil
}

func (q *projectQuota) projectID(snapshotID string) (uint32, error) {
	n, err := strconv.ParseUint(snapshotID, 10, 32)
	if err != nil || uint64(q.base)+n > math.MaxUint32 {
		return 0, fmt.Errorf("snapshot id %s has no project id", snapshotID)
	}
	return q.base + uint32(n), nil
}

// owns reports whether id is one of this snapshotter's project ids.
func (q *projectQuota) owns(id uint32) bool { return id > q.base }

// setLimit sets the block hard (and soft) limit of project id to bytes;
// 0 removes the limit.
func (q *projectQuota) setLimit(id uint32, bytes uint64) error {
	d := fsDiskQuota{
		version:      fsDquotVer,
		flags:        fsProjQuota,
		fieldmask:    fsDqBHard | fsDqBSoft,
		id:           id,
		blkHardlimit: (bytes + 511) / 512,
	}
	d.blkSoftlimit = d.blkHardlimit
	return quotactl(q.dir, qcmd(qXSetQLim, prjQuota), id, unsafe.Pointer(&d))
}

func getProjectID(path string) (uint32, error) {
	var x fsxattr
	if err := fsxattrIoctl(path, fsIocFsGetXattr, &x); err != nil {
		return 0, err
	}
	return x.projid, nil
}

// setProjectID gives dir the project id and the inherit flag, so that what
// is created below it belongs to the project.
func setProjectID(dir string, id uint32) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var x fsxattr
	if err := ioctl(f, fsIocFsGetXattr, &x); err != nil {
		return err
	}
	x.projid = id
	x.xflags |= fsXflagProjInherit
	return ioctl(f, fsIocFsSetXattr, &x)
}

func fsxattrIoctl(path string, req uintptr, x *fsxattr) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return ioctl(f, req, x)
}

func ioctl(f *os.File, req uintptr, x *fsxattr) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(x)))
	if errno != 0 {
		return errno
	}
	return nil
}

// quotactl runs a quota command on the filesystem of path: with
// quotactl_fd(2) (Linux 5.14+), else with quotactl(2) on a block device
// node of the filesystem's device made beside path (moby's way).
func quotactl(path string, cmd int, id uint32, addr unsafe.Pointer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, _, errno := unix.Syscall6(unix.SYS_QUOTACTL_FD, f.Fd(), uintptr(cmd), uintptr(id), uintptr(addr), 0, 0)
	if errno != unix.ENOSYS {
		if errno != 0 {
			return errno
		}
		return nil
	}
	// ENOSYS: no quotactl_fd, or no quota support in this filesystem.
	dev, err := backingDevice(path)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(dev) }()
	p, err := unix.BytePtrFromString(dev)
	if err != nil {
		return err
	}
	_, _, errno = unix.Syscall6(unix.SYS_QUOTACTL, uintptr(cmd), uintptr(unsafe.Pointer(p)), uintptr(id), uintptr(addr), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func backingDevice(dir string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", err
	}
	dev := filepath.Join(filepath.Dir(dir), "backing-dev") // beside snapshots/, not in it
	_ = os.Remove(dev)
	if err := unix.Mknod(dev, unix.S_IFBLK|0o600, int(st.Dev)); err != nil {
		return "", fmt.Errorf("make block device node for quotas: %w", err)
	}
	return dev, nil
}
