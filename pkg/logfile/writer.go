package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Writer appends json-file entries to a log file and rotates it by size. It
// is safe for concurrent use: berth's stdout and stderr copiers share one.
//
// Every Write goes to the file in one write(2) (no user-space buffering), so
// followers see each entry as soon as it is written and a crash of the
// writer loses nothing that was accepted.
type Writer struct {
	mu       sync.Mutex
	path     string
	maxSize  int64 // <=0: never rotate
	maxFiles int
	f        *os.File
	size     int64
	buf      []byte
	ts       []byte // the formatted time of the entries being added
	closed   bool
}

// NewWriter opens (creating it and its directory if needed) the log file at
// path for appending. A file left by an earlier writer is continued, so
// several writer lifetimes (a restarted container, a restarted logger) share
// one log. When maxSize > 0, the file is rotated before it would grow past
// maxSize, keeping at most maxFiles files in total (path, path.1, …,
// path.<maxFiles-1>); maxFiles <= 1 keeps only path.
//
// Opening a writer removes the "closed" marker (see MarkClosed), telling
// followers that the log goes on.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := w.open(); err != nil {
		return nil, err
	}
	// An earlier writer that died mid-write may have left a partial line:
	// terminate it so our first entry starts on a line of its own (readers
	// skip the broken line).
	if w.size > 0 {
		last := make([]byte, 1)
		if _, err := w.f.ReadAt(last, w.size-1); err == nil && last[0] != '\n' {
			if _, err := w.f.Write([]byte{'\n'}); err != nil {
				_ = w.f.Close()
				return nil, err
			}
			w.size++
		}
	}
	if err := Reopened(path); err != nil {
		_ = w.f.Close()
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends one entry for line, which is stored verbatim (a trailing
// newline, if any, is part of the entry as in Docker's format). A line longer
// than MaxLineSize is stored as several entries.
func (w *Writer) Write(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	w.buf = w.buf[:0]
	w.ts = appendTime(w.ts[:0], t)
	for {
		n := min(len(line), MaxLineSize)
		if err := w.add(stream, line[:n]); err != nil {
			return err
		}
		line = line[n:]
		if len(line) == 0 {
			break
		}
	}
	return w.flush()
}

// WriteLines appends one entry per line of p: every newline-terminated line
// and, if p does not end in a newline, the rest as a final entry. Lines
// longer than MaxLineSize are split. The entries are written with as few
// write(2) calls as rotation allows, which is what makes it cheaper than
// calling Write per line.
func (w *Writer) WriteLines(stream string, p []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	w.buf = w.buf[:0]
	w.ts = appendTime(w.ts[:0], t)
	for len(p) > 0 {
		n := bytes.IndexByte(p, '\n') + 1
		if n == 0 {
			n = len(p)
		}
		n = min(n, MaxLineSize)
		if err := w.add(stream, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return w.flush()
}

// add encodes one entry into w.buf, first writing out what is buffered and
// rotating if the entry would take the file past maxSize.
func (w *Writer) add(stream string, line []byte) error {
	mark := len(w.buf)
	w.buf = appendEntryTS(w.buf, stream, line, w.ts)
	if w.maxSize <= 0 {
		return nil
	}
	entryLen := int64(len(w.buf) - mark)
	if w.size+int64(mark)+entryLen <= w.maxSize || w.size+int64(mark) == 0 {
		return nil
	}
	// The entry does not fit: write what precedes it, rotate, keep it.
	entry := append([]byte(nil), w.buf[mark:]...)
	w.buf = w.buf[:mark]
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.rotate(); err != nil {
		return err
	}
	w.buf = append(w.buf[:0], entry...)
	return nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.f == nil {
		// A rotation failed to open the new file: try again.
		if err := w.open(); err != nil {
			w.buf = w.buf[:0]
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	w.buf = w.buf[:0]
	return err
}

// rotate renames path.(n-1) → path.n … path → path.1, dropping the oldest
// file, and starts a new path. Followers hold the old file open and move on
// to the new one when they have drained it.
func (w *Writer) rotate() error {
	if w.f != nil {
		err := w.f.Close()
		w.f = nil
		if err != nil {
			return err
		}
	}
	if w.maxFiles <= 1 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	} else {
		for n := w.maxFiles - 1; n >= 1; n-- {
			from := rotatedName(w.path, n-1)
			if err := os.Rename(from, rotatedName(w.path, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate %s: %w", from, err)
			}
		}
	}
	return w.open()
}

// Close closes the file and marks the log closed for good (MarkClosed):
// followers drain what is left and stop. A writer that dies without Close
// leaves followers waiting for the next writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.f != nil {
		err = w.f.Close()
	}
	return errors.Join(err, MarkClosed(w.path))
}

// rotatedName is path for n == 0, path.n otherwise.
func rotatedName(path string, n int) string {
	if n == 0 {
		return path
	}
	return path + "." + strconv.Itoa(n)
}

// closedMarker is the sibling file whose existence says that the log's last
// writer closed it.
func closedMarker(path string) string { return path + ".closed" }

// MarkClosed records that the log at path is finished: followers (Read with
// Follow) stop once they have read everything. Writer.Close calls it.
func MarkClosed(path string) error {
	f, err := os.OpenFile(closedMarker(path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Reopened removes the closed marker: the log goes on. NewWriter calls it.
func Reopened(path string) error {
	err := os.Remove(closedMarker(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// IsClosed reports whether the log at path is marked closed.
func IsClosed(path string) bool {
	_, err := os.Lstat(closedMarker(path))
	return err == nil
}

var _ io.Closer = (*Writer)(nil)
