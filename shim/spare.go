package shim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A spare is a shim process started ahead of need: containerd's start
// action hands it the next container instead of starting a new process, so
// that a task create does not wait for a fork, an exec and a Go runtime
// start (docs/shim.md "Spare"). There is at most one per containerd and
// shim binary: it listens on an abstract unix socket (no file to leave
// behind; the name is free again when the process is gone), it ends when
// containerd does (it holds a connection to containerd's ttrpc socket),
// and the shim it becomes starts the next one a moment after its
// container's task was created.
//
// The hand-over (start → spare, SOCK_SEQPACKET): one message with the
// fields below separated by NULs and, as SCM_RIGHTS, the container's
// listening socket; the spare answers "ok" once it is that container's shim,
// or "no" (and exits) when it was started for another binary or
// environment. Both ends check that the other runs as root.

// SpareEnv, set to 0 in containerd's environment, turns spares off.
const SpareEnv = "BERTH_SHIM_SPARE"

const (
	spareVersion = "berth-spare-1"
	// spareDelay is how long after its container's task was created a shim
	// starts the next spare: not while that container is still starting.
	spareDelay = 100 * time.Millisecond
	// spareClaimTimeout bounds start's wait for a spare's answer.
	spareClaimTimeout = 2 * time.Second
)

func sparesEnabled() bool { return os.Getenv(SpareEnv) != "0" }

// spareName is the abstract socket name of the spare for this binary and
// containerd.
func spareName(exe, address, ttrpcAddress string) string {
	h := fnv.New64a()
	h.Write([]byte(exe + "\x00" + address + "\x00" + ttrpcAddress))
	return fmt.Sprintf("@berth-shim-spare-%x", h.Sum64())
}

// exeID identifies the running binary (a binary replaced at the same path
// is another one).
func exeID() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d", st.Dev, st.Ino, st.Mtim.Nano())
}

// claim is what start hands a spare.
type claim struct {
	namespace, id, address, ttrpcAddress, bundle string
	debug                                        bool
	exe                                          string // exeID of start
	env                                          string // envID of the shim's environment
}

func (c *claim) marshal() []byte {
	debug := "0"
	if c.debug {
		debug = "1"
	}
	return []byte(strings.Join([]string{spareVersion, c.namespace, c.id, c.address, c.ttrpcAddress, c.bundle, debug, c.exe, c.env}, "\x00"))
}

func parseClaim(b []byte) (*claim, error) {
	f := strings.Split(string(b), "\x00")
	if len(f) != 9 || f[0] != spareVersion {
		return nil, errors.New("not a claim")
	}
	return &claim{namespace: f[1], id: f[2], address: f[3], ttrpcAddress: f[4], bundle: f[5], debug: f[6] == "1", exe: f[7], env: f[8]}, nil
}

// envID identifies an environment (a spare serves containers whose shim
// would have had the same one).
func envID(env []string) string {
	h := fnv.New64a()
	for _, kv := range env {
		h.Write([]byte(kv))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum64())
}

// claimSpare hands the container's listening socket sock to the spare, if
// there is one that can take it. Plain syscalls, as the rest of start.
func claimSpare(c *claim, sock int) bool {
	if !sparesEnabled() {
		return false
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(spareClaimTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: spareName(self, c.address, c.ttrpcAddress)}); err != nil {
		return false // none (yet)
	}
	// Anybody may bind an abstract name: the socket goes only to root (the
	// peer credentials are those of the process that made the socket
	// listen, the spare's spawner, a shim).
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Uid != 0 {
		return false
	}
	if err := unix.Sendmsg(fd, c.marshal(), unix.UnixRights(sock), nil, 0); err != nil {
		return false
	}
	var answer [8]byte
	n, err := unix.Read(fd, answer[:])
	return err == nil && string(answer[:n]) == "ok"
}

// spare is the "spare" action: wait for a container, then serve it.
func spare(f flags) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	// The spare's socket, bound and listening: its name is taken as long
	// as this process or its spawner holds it.
	file := os.NewFile(3, "spare")
	fl, err := net.FileListener(file)
	file.Close()
	if err != nil {
		return err
	}
	l, ok := fl.(*net.UnixListener)
	if !ok {
		return errors.New("spare: fd 3 is not a unix socket")
	}
	closeInherited()
	ttrpcAddress := os.Getenv("TTRPC_ADDRESS")
	// Gone with containerd: a spare serves one containerd's containers.
	cd, err := net.Dial("unix", strings.TrimPrefix(ttrpcAddress, "unix://"))
	if err != nil {
		return nil
	}
	var claimed atomic.Bool
	go func() {
		var b [64]byte
		for {
			if _, err := cd.Read(b[:]); err != nil {
				break
			}
		}
		if !claimed.Load() {
			os.Exit(0)
		}
	}()
	primeExec()
	id, env := exeID(), envID(os.Environ())
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return err
		}
		cl, sock, err := readClaim(c)
		if err != nil {
			c.Close()
			continue
		}
		if cl.exe != id || cl.env != env {
			// Started for another binary or environment: the claimant
			// starts a shim of its own, and this spare is not needed.
			_, _ = c.Write([]byte("no"))
			os.Exit(0)
		}
		// Answered first: start (and containerd behind it) waits for it.
		// What follows cannot fail but for a broken system, where the
		// container's task create then fails.
		claimed.Store(true)
		if _, err := c.Write([]byte("ok")); err != nil {
			os.Exit(0) // start falls back to a shim of its own
		}
		c.Close()
		l.Close() // the name is free for the next spare
		if err := os.Chdir(cl.bundle); err != nil {
			return err
		}
		file := os.NewFile(uintptr(sock), "socket")
		ln, err := net.FileListener(file)
		file.Close()
		if err != nil {
			return err
		}
		// Before serving: containerd's first request waits for them.
		if err := writeShimFiles(cl.bundle, os.Getpid(), "unix://"+ln.Addr().String()); err != nil {
			logf("write the bundle's shim files: %v", err)
		}
		// cd stays open: it tells the shim when containerd goes before
		// its task was created (watchOrphan).
		return serveOn(flags{namespace: cl.namespace, id: cl.id, address: cl.address, debug: cl.debug}, cl.bundle, ln, cd)
	}
}

// readClaim reads one claim and its socket from a root peer.
func readClaim(c *net.UnixConn) (*claim, int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil || cred.Uid != 0 {
		return nil, -1, errors.New("claim not from root")
	}
	_ = c.SetReadDeadline(time.Now().Add(spareClaimTimeout))
	buf := make([]byte, 4<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		err = errors.New("claim too long")
	}
	if err != nil || len(msgs) != 1 {
		return nil, -1, errors.New("claim without a socket")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, -1, errors.New("claim without a socket")
	}
	cl, err := parseClaim(buf[:n])
	if err != nil {
		unix.Close(fds[0])
		return nil, -1, err
	}
	unix.CloseOnExec(fds[0])
	return cl, fds[0], nil
}

// closeInherited closes the descriptors the spare inherited by mistake
// (not close-on-exec in its spawner, e.g. from containerd's own parent):
// a spare outlives the shim that started it and must not keep someone's
// pipe open. What Go opens is close-on-exec.
// (By number rather than from /proc/self/fd: a spare becomes a shim, whose
// heap keeps whatever it allocated.)
func closeInherited() {
	var lim unix.Rlimit
	n := uint64(1024)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < n {
		n = lim.Cur
	}
	for fd := 3; uint64(fd) < n; fd++ {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// primeExec runs os/exec's one-time check of pidfd support (it forks a
// child) now, rather than on the path of the container's `runc create`: a
// process name with a NUL fails in syscall.StartProcess before any fork,
// after the check ran.
func primeExec() {
	_, _ = os.StartProcess("\x00", []string{""}, &os.ProcAttr{Sys: &syscall.SysProcAttr{}})
}

// spawnSpare starts the next spare, unless spares are off or there is one.
// It binds the spare's name itself and hands the socket over (fd 3): of two
// shims spawning at once, one gets the name. The spare's parent is the
// shim's own parent (CLONE_PARENT), not the shim: a shim reaps its
// container's processes, and a spare outlives it.
func spawnSpare(f flags) {
	if !sparesEnabled() {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(sock)
	if err := unix.Bind(sock, &unix.SockaddrUnix{Name: spareName(self, f.address, os.Getenv("TTRPC_ADDRESS"))}); err != nil {
		return // EADDRINUSE: there is a spare
	}
	if err := unix.Listen(sock, 64); err != nil {
		return
	}
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(null)
	args := []string{self, "-address", f.address}
	if f.debug {
		args = append(args, "-debug")
	}
	_, err = syscall.ForkExec(self, append(args, "spare"), &syscall.ProcAttr{
		Dir:   "/",
		Env:   os.Environ(),
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(sock)},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Cloneflags: unix.CLONE_PARENT},
	})
	if err != nil {
		logf("start a spare shim: %v", err)
	}
}
