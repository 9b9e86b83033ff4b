package logfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Entry is one log entry.
type Entry struct {
	Line   []byte // as written, including the trailing newline of a complete line
	Stream string // "stdout" or "stderr"
	Time   time.Time
}

// ReadOptions select what Read returns.
type ReadOptions struct {
	// Follow: after the existing entries, wait for new ones (across
	// rotations and writer restarts) until ctx is done, Until has passed,
	// or the log is closed for good (the last writer called Close).
	Follow bool
	// Tail: only the last Tail entries present when Read starts (then,
	// with Follow, every new one); < 0: all. Tail is applied before
	// Since/Until, as Docker does.
	Tail int
	// Since and Until (zero: unbounded) select entries by time: entries
	// before Since are skipped, the first entry after Until ends the read.
	Since, Until time.Time
}

// errStop ends a read early without an error (an entry after Until).
var errStop = errors.New("stop")

// maxPartial bounds how much of an unterminated line a reader keeps: no
// entry the Writer makes is this long, so a longer one is garbage.
const maxPartial = 1 << 20

// Read calls fn for every selected entry of the log at path, oldest first:
// the rotated files path.N … path.1, then path. An error from fn ends Read
// and is returned. Lines that are not valid entries (a partial line left by
// a writer that crashed) are skipped. Without Follow, a log that does not
// exist reads as empty.
//
// With Follow, Read keeps reading new entries as they are written: across
// rotations (a file renamed to path.1 is read to its end, then the new path),
// across a new Writer appending to the same path (a restarted container or
// logger), and across the file being truncated. It returns nil once the log
// is marked closed (Writer.Close, MarkClosed) and everything is read, nil
// when Until has passed, or ctx.Err() when ctx is done. Callers that want to
// keep following across a container restart, where the log is closed and
// then reopened, call Read again (with Tail 0) or keep their own loop.
// Followers are woken by inotify on the log's directory, with a 1 s poll as
// a fallback (250 ms if inotify is unavailable).
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	r := &reader{opts: opts, fn: fn, buf: make([]byte, 64<<10)}
	if opts.Follow && !opts.Until.IsZero() {
		var cancel context.CancelFunc
		parent := ctx
		ctx, cancel = context.WithDeadline(ctx, opts.Until)
		defer cancel()
		err := r.follow(ctx, path)
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			err = nil
		}
		return stopIsNil(err)
	}
	if opts.Follow {
		return stopIsNil(r.follow(ctx, path))
	}
	files, err := openSet(path)
	if err != nil {
		return err
	}
	defer closeAll(files)
	return stopIsNil(r.readFrom(ctx, files))
}

func stopIsNil(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

type reader struct {
	opts    ReadOptions
	fn      func(Entry) error
	buf     []byte
	partial []byte
	pos     int64 // offset in the file being read
}

// readFrom reads the selected history of files (oldest first) to their
// ends, leaving the last one open at its end for a follower.
func (r *reader) readFrom(ctx context.Context, files []*os.File) error {
	if len(files) == 0 {
		return nil
	}
	idx, off := 0, int64(0)
	if r.opts.Tail >= 0 {
		var err error
		if idx, off, err = tailStart(files, r.opts.Tail); err != nil {
			return err
		}
	}
	for i := idx; i < len(files); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i != idx {
			off = 0
		}
		if _, err := files[i].Seek(off, io.SeekStart); err != nil {
			return err
		}
		r.pos, r.partial = off, r.partial[:0]
		if err := r.drain(files[i]); err != nil {
			return err
		}
	}
	return nil
}

// follow reads the history and then new entries as described at Read.
func (r *reader) follow(ctx context.Context, path string) error {
	w := newWatcher(filepath.Dir(path))
	defer w.close()

	// The log may not exist yet (a container created but not started).
	var files []*os.File
	for {
		var err error
		if files, err = openSet(path); err != nil {
			return err
		}
		if len(files) > 0 {
			break
		}
		if IsClosed(path) {
			return nil
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
	cur := files[len(files)-1]
	defer func() { cur.Close() }()
	err := r.readFrom(ctx, files)
	closeAll(files[:len(files)-1])
	if err != nil {
		return err
	}
	for {
		if err := r.drain(cur); err != nil {
			return err
		}
		next, err := r.successor(path, cur)
		if err != nil {
			return err
		}
		if next == nil && IsClosed(path) {
			// The marker is created after the last write: what
			// is there now is all there will be.
			if err := r.drain(cur); err != nil {
				return err
			}
			if next, err = r.successor(path, cur); err != nil {
				return err
			}
			if next == nil {
				return nil
			}
		}
		if next != nil {
			// cur was rotated away after our last drain: what was
			// written to it before that comes first.
			if err := r.drain(cur); err != nil {
				_ = next.Close()
				return err
			}
			_ = cur.Close()
			cur, r.pos, r.partial = next, 0, r.partial[:0]
			continue
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
}

// successor returns the file written after cur once cur has been rotated
// away (renamed to path.N or removed), or nil while cur is still the
// current file (or its successor does not exist yet). A truncated cur is
// rewound.
func (r *reader) successor(path string, cur *os.File) (*os.File, error) {
	curID, err := fileID(cur)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // mid-rotation, or removed: wait for a writer
	}
	if err != nil {
		return nil, err
	}
	if statID(st) == curID {
		if st.Size() < r.pos {
			// Truncated (e.g. by a user): read it again from the start.
			if _, err := cur.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			r.pos, r.partial = 0, r.partial[:0]
		}
		return nil, nil
	}
	files, err := openSet(path)
	if err != nil {
		return nil, err
	}
	var next *os.File
	found := false
	for _, f := range files {
		id, err := fileID(f)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		switch {
		case id == curID:
			found = true
		case found && next == nil:
			next = f
			continue
		}
		_ = f.Close()
	}
	if found {
		return next, nil
	}
	// cur is in none of the names: either it was removed (dropped by
	// rotation, or maxFiles 1), and then everything there is newer, or it
	// was renamed twice while we looked, and we look again later.
	cst, err := cur.Stat()
	if err != nil || cst.Sys().(*syscall.Stat_t).Nlink > 0 {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	// Reopen the oldest: the set was closed above.
	return reopenOldest(path, curID)
}

func reopenOldest(path string, skip devIno) (*os.File, error) {
	files, err := openSet(path)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	for i, f := range files {
		if id, _ := fileID(f); id != skip {
			closeAll(files[:i])
			closeAll(files[i+1:])
			return f, nil
		}
	}
	closeAll(files)
	return nil, nil
}

// drain reads f from the current position to EOF and dispatches every
// complete line; an unterminated end is kept in r.partial.
func (r *reader) drain(f *os.File) error {
	for {
		n, err := f.Read(r.buf)
		if n > 0 {
			r.pos += int64(n)
			if derr := r.feed(r.buf[:n]); derr != nil {
				return derr
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *reader) feed(p []byte) error {
	if len(r.partial) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.keep(p)
			return nil
		}
		r.partial = append(r.partial, p[:i]...)
		err := r.dispatch(r.partial)
		r.partial = r.partial[:0]
		if err != nil {
			return err
		}
		p = p[i+1:]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.keep(p)
			return nil
		}
		if err := r.dispatch(p[:i]); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

func (r *reader) keep(p []byte) {
	if len(r.partial)+len(p) > maxPartial {
		r.partial = r.partial[:0] // garbage; resynchronise at the next newline
		return
	}
	r.partial = append(r.partial, p...)
}

type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (r *reader) dispatch(line []byte) error {
	if len(line) == 0 {
		return nil
	}
	e, ok := decodeEntry(line)
	if !ok {
		var je jsonEntry
		if err := json.Unmarshal(line, &je); err != nil {
			return nil // a broken line (a writer crashed mid-write): skip
		}
		e = Entry{Line: []byte(je.Log), Stream: je.Stream, Time: je.Time}
	}
	if !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		return errStop
	}
	return r.fn(e)
}

// openSet opens the log's files and returns them oldest first.
//
// A rotation while the names are opened one by one would give a wrong
// picture (a file seen twice, or out of order), so the scan is repeated
// until no rotation happened during it: each rotation replaces path, so it
// is enough to check that path is still the file opened first.
func openSet(path string) ([]*os.File, error) {
	for attempt := 0; ; attempt++ {
		files, consistent, err := scanSet(path)
		if err != nil || consistent || attempt == 50 {
			return files, err
		}
		closeAll(files)
	}
}

func scanSet(path string) (files []*os.File, consistent bool, err error) {
	defer func() {
		if err != nil {
			closeAll(files)
			files = nil
		}
	}()
	maxN, err := maxRotated(path)
	if err != nil {
		return nil, false, err
	}
	consistent = true
	seen := map[devIno]bool{}
	var first *devIno
	// Newest first: path, path.1, …, one past the highest index seen.
	for n := 0; n <= maxN+1; n++ {
		f, err := os.Open(rotatedName(path, n))
		if errors.Is(err, os.ErrNotExist) {
			if n > 0 && n <= maxN {
				consistent = false // a gap: mid-rotation
			}
			continue
		}
		if err != nil {
			return files, false, err
		}
		id, err := fileID(f)
		if err != nil {
			_ = f.Close()
			return files, false, err
		}
		if seen[id] {
			_ = f.Close()
			consistent = false
			continue
		}
		if n == 0 {
			first = &id
		}
		seen[id] = true
		files = append(files, f)
		maxN = max(maxN, n)
	}
	// No rotation since path was opened (or, without a path, no writer
	// has created one since).
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		consistent = consistent && first == nil
	case err != nil:
		return files, false, err
	default:
		consistent = consistent && first != nil && statID(st) == *first
	}
	if m, err := maxRotated(path); err != nil || m > maxN {
		consistent = false
	}
	slices.Reverse(files)
	return files, consistent, nil
}

// maxRotated returns the highest N of the existing path.N files (0 if none).
func maxRotated(path string) (int, error) {
	names, err := readDirNames(filepath.Dir(path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	maxN := 0
	prefix := filepath.Base(path) + "."
	for _, name := range names {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > maxN {
				maxN = n
			}
		}
	}
	return maxN, nil
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

type devIno struct{ dev, ino uint64 }

func fileID(f *os.File) (devIno, error) {
	st, err := f.Stat()
	if err != nil {
		return devIno{}, err
	}
	return statID(st), nil
}

func statID(fi os.FileInfo) devIno {
	st := fi.Sys().(*syscall.Stat_t)
	return devIno{uint64(st.Dev), st.Ino}
}

// tailStart finds where the last n complete lines of files (oldest first)
// begin: the index of the file and the offset in it. An unterminated end of
// the newest file (an entry being written) is not counted: a follower reads
// it when it is complete.
func tailStart(files []*os.File, n int) (int, int64, error) {
	buf := make([]byte, 32<<10)
	need := n
	for i := len(files) - 1; i >= 0; i-- {
		st, err := files[i].Stat()
		if err != nil {
			return 0, 0, err
		}
		end := st.Size()
		if i == len(files)-1 {
			// Only complete lines count in the newest file.
			p, err := lastByteBefore(files[i], end, buf)
			if err != nil {
				return 0, 0, err
			}
			end = p
			if need == 0 {
				return i, end, nil
			}
		}
		if end == 0 {
			continue
		}
		// Lines start at 0 and after each newline before end-1.
		pos := end - 1
		for pos > 0 {
			start := max(0, pos-int64(len(buf)))
			chunk := buf[:pos-start]
			if _, err := files[i].ReadAt(chunk, start); err != nil {
				return 0, 0, err
			}
			for j := len(chunk) - 1; j >= 0; j-- {
				if chunk[j] != '\n' {
					continue
				}
				need--
				if need == 0 {
					return i, start + int64(j) + 1, nil
				}
			}
			pos = start
		}
		need-- // the file's first line
		if need == 0 {
			return i, 0, nil
		}
	}
	return 0, 0, nil
}

// lastByteBefore returns the offset just after the last newline before end
// (0 if there is none).
func lastByteBefore(f *os.File, end int64, buf []byte) (int64, error) {
	pos := end
	for pos > 0 {
		start := max(0, pos-int64(len(buf)))
		chunk := buf[:pos-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if j := bytes.LastIndexByte(chunk, '\n'); j >= 0 {
			return start + int64(j) + 1, nil
		}
		pos = start
	}
	return 0, nil
}
