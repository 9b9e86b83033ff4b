package containerio

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/logfile"
)

// readSize is the buffer size of each copier's reads: a pipe delivers at
// most 64 KiB per read on Linux.
const readSize = 64 << 10

// Sink writes a container's stdout and stderr to its log file (one entry per
// line) and broadcasts them to attach clients (chunks as read), and feeds
// attach clients' input to Stdin().
type Sink struct {
	opts   Options
	log    *logfile.Writer
	attach *attach.Server // nil without an attach socket

	stdinR *io.PipeReader
	stdinW *io.PipeWriter

	closeOnce sync.Once
	closeErr  error
}

// NewSink opens the log writer and, if o.AttachSocket is set, the attach
// server. When NewSink returns, attach clients can connect.
func NewSink(o Options) (_ *Sink, err error) {
	if o.LogPath == "" {
		return nil, errors.New("containerio: Options.LogPath is required")
	}
	s := &Sink{opts: o}
	if !o.NoLog {
		if s.log, err = logfile.NewWriter(o.LogPath, o.MaxSize, o.MaxFiles); err != nil {
			return nil, err
		}
	}
	if o.AttachSocket == "" {
		return s, nil
	}
	var stdin io.WriteCloser
	if o.Stdin {
		s.stdinR, s.stdinW = io.Pipe()
		stdin = s.stdinW
	}
	s.attach, err = attach.Listen(o.AttachSocket, stdin)
	if err != nil {
		if s.log != nil {
			_ = s.log.Close()
		}
		return nil, err
	}
	return s, nil
}

// Stdin returns the bytes attach clients send to the container's stdin, or
// nil unless Options.Stdin and an attach socket were given. It reads EOF
// once a client closes stdin (or the Sink is closed). Its reader must keep
// reading (or close it): a client's input waits until it is read.
func (s *Sink) Stdin() io.Reader {
	if s.stdinR == nil {
		return nil
	}
	return s.stdinR
}

// CopyStdout copies r, the container's stdout, until EOF. A read error other
// than EOF ends the copy and is returned after flushing.
func (s *Sink) CopyStdout(r io.Reader) error { return s.copy("stdout", attach.Stdout, r) }

// CopyStderr copies r, the container's stderr, until EOF.
func (s *Sink) CopyStderr(r io.Reader) error { return s.copy("stderr", attach.Stderr, r) }

func (s *Sink) copy(name string, stream byte, r io.Reader) error {
	buf := make([]byte, readSize)
	// pending holds the start of a line whose newline has not arrived;
	// it never exceeds logfile.MaxLineSize.
	var pending []byte
	var logErr error
	writeLog := func(p []byte, t time.Time) {
		if s.log == nil {
			return
		}
		if err := s.log.WriteLines(name, p, t); err != nil && logErr == nil {
			// Keep copying (a full disk must not block the container
			// by leaving its pipe unread); report the first error.
			logErr = err
		}
	}
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if s.attach != nil {
				s.attach.Broadcast(stream, chunk)
			}
			t := time.Now()
			if len(pending) > 0 {
				// Complete the pending line, or grow it up to the
				// split size.
				i := bytes.IndexByte(chunk, '\n') + 1
				if i == 0 {
					i = len(chunk)
				}
				i = min(i, logfile.MaxLineSize-len(pending))
				pending = append(pending, chunk[:i]...)
				chunk = chunk[i:]
				if pending[len(pending)-1] == '\n' || len(pending) == logfile.MaxLineSize {
					writeLog(pending, t)
					pending = pending[:0]
				}
			}
			if len(chunk) > 0 {
				// Write every complete line (WriteLines splits long
				// ones) and keep the unterminated tail, unless it
				// is already a full piece.
				end := bytes.LastIndexByte(chunk, '\n') + 1
				tail := chunk[end:]
				if k := len(tail) / logfile.MaxLineSize * logfile.MaxLineSize; k > 0 {
					end += k
					tail = tail[k:]
				}
				if end > 0 {
					writeLog(chunk[:end], t)
				}
				pending = append(pending, tail...)
			}
		}
		if rerr != nil {
			if len(pending) > 0 {
				writeLog(pending, time.Now())
			}
			if errors.Is(rerr, io.EOF) {
				rerr = nil
			}
			return errors.Join(rerr, logErr)
		}
	}
}

// Close ends the output, after both copies have returned: it closes the log
// (marking it closed, so `logs -f` ends), then the attach server (clients
// get what was queued, then EOF), and Stdin().
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.log != nil {
			errs = append(errs, s.log.Close())
		}
		if s.stdinR != nil {
			// Unblock a client's pending stdin write before the
			// attach server waits for its connections.
			_ = s.stdinR.CloseWithError(io.EOF)
			_ = s.stdinW.Close()
		}
		if s.attach != nil {
			errs = append(errs, s.attach.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
