package logfile

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	inotifyPoll  = time.Second
	fallbackPoll = 250 * time.Millisecond
)

// watcher wakes a follower when something changes in the log's directory.
// Any event just means "look again": the follower checks the files itself,
// so a missed or spurious event costs at most one poll interval.
type watcher struct {
	f   *os.File // inotify instance; nil: poll only
	buf []byte
}

func newWatcher(dir string) *watcher {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return &watcher{} // e.g. fs.inotify.max_user_instances reached
	}
	const mask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM |
		unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		_ = unix.Close(fd)
		return &watcher{}
	}
	return &watcher{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 4096)}
}

// wait returns after an event, a poll interval, or with ctx.Err() when ctx
// is done.
func (w *watcher) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.f == nil {
		t := time.NewTimer(fallbackPoll)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	_ = w.f.SetReadDeadline(time.Now().Add(inotifyPoll))
	stop := context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	_, _ = w.f.Read(w.buf) // an event, a timeout or a cancellation: look again
	return ctx.Err()
}

func (w *watcher) close() {
	if w.f != nil {
		_ = w.f.Close()
	}
}
