package shim

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// logFD is where the long-lived shim writes its log lines, plus one (0 =
// stderr): the "log" fifo in the bundle, which containerd reads and copies
// into its own log.
var logFD atomic.Int32

// openLog opens <bundle>/log without blocking: containerd keeps the fifo open
// for reading while it runs; when it does not, log lines are dropped rather
// than block the shim.
func openLog(path string) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	logFD.Store(int32(fd) + 1)
}

// debugLog is set when containerd runs the shim with -debug (containerd's
// own log level is debug): debugf lines are written then only.
var debugLog atomic.Bool

// logf writes one log line. It never blocks: a full or reader-less fifo
// drops the line.
func logf(format string, args ...any) {
	logAt("warning", format, args...)
}

// debugf writes one debug line when containerd asked for them.
func debugf(format string, args ...any) {
	if debugLog.Load() {
		logAt("debug", format, args...)
	}
}

func logAt(level, format string, args ...any) {
	fd := int(logFD.Load()) - 1
	line := fmt.Sprintf("time=%q level=%s msg=%q runtime=io.containerd.berth.v2 pid=%d\n",
		time.Now().UTC().Format(time.RFC3339Nano), level, fmt.Sprintf(format, args...), os.Getpid())
	if fd < 0 {
		_, _ = os.Stderr.WriteString(line)
		return
	}
	_, _ = unix.Write(fd, []byte(line))
}
