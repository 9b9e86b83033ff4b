package commands

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushDelay bounds how long a printed log line may wait in logWriter's
// buffer: a followed line shows at once to a person.
const logFlushDelay = 20 * time.Millisecond

// logWriter prints a log's lines on stdout and stderr through buffers,
// keeping their order: a line for the other stream first flushes what is
// buffered, and what is buffered goes out within logFlushDelay, when the
// buffer fills and at flush. A log of a million lines is then some
// thousands of writes instead of a million.
type logWriter struct {
	mu    sync.Mutex
	out   *bufio.Writer
	errw  *bufio.Writer
	timer *time.Timer
	armed bool  // timer will flush
	err   error // the first failed write or flush
}

func newLogWriter(stdout, stderr io.Writer) *logWriter {
	return &logWriter{out: bufio.NewWriterSize(stdout, 32<<10), errw: bufio.NewWriterSize(stderr, 32<<10)}
}

// write prints parts, one after the other, on stream's writer ("stderr",
// or stdout for anything else).
func (l *logWriter) write(stream string, parts ...[]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	w, other := l.out, l.errw
	if stream == "stderr" {
		w, other = l.errw, l.out
	}
	// At most one of the two holds bytes: the other one's go first.
	if l.err = other.Flush(); l.err != nil {
		return l.err
	}
	for _, p := range parts {
		if _, l.err = w.Write(p); l.err != nil {
			return l.err
		}
	}
	if w.Buffered() > 0 && !l.armed {
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(logFlushDelay, l.flushHeld)
		} else {
			l.timer.Reset(logFlushDelay)
		}
	}
	return nil
}

func (l *logWriter) flushHeld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	l.flushLocked()
}

func (l *logWriter) flushLocked() {
	if l.err == nil {
		l.err = l.out.Flush()
	}
	if l.err == nil {
		l.err = l.errw.Flush()
	}
}

// flush prints what is buffered now and returns the first error of any
// write so far. The writer stays usable.
func (l *logWriter) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.armed = false
	l.flushLocked()
	return l.err
}
