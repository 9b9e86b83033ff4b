// Package attach serves a container's live output to attached clients and
// carries their input to the container's stdin, over a unix socket in the
// container's data path (served by berth's shim or by berth-logger, never by
// berthd).
//
// # Wire format
//
// Both directions carry frames:
//
//	+--------+------------------------+------------------+
//	| stream | length (4 bytes, BE)   | payload (length) |
//	+--------+------------------------+------------------+
//
// Streams: 0 stdin, 1 stdout, 2 stderr, 255 control. Payloads are at most
// MaxFrame bytes.
//
// Server → client:
//   - first, a control frame with an empty payload: the client is
//     registered and receives every output frame broadcast from then on
//     (Dial waits for it, so output produced after Dial returns is never
//     missed);
//   - stdout/stderr frames, each one chunk of output as the container wrote
//     it (not split into lines);
//   - last, a control frame "eof" when the output has ended (the container's
//     stdout and stderr are closed), or "dropped" when the server
//     disconnects the client for being too slow; then the connection is
//     closed. A connection that ends without either (the server died)
//     reads as io.ErrUnexpectedEOF.
//
// Client → server: stdin frames (stream 0) with a non-empty payload are
// written to the container's stdin; an empty stdin frame closes the
// container's stdin (for every client: stdin is shared). Frames on other
// streams are ignored; a length over MaxFrame ends the connection.
//
// # Slow clients
//
// Output never waits for a client. Each client has a queue of at most
// MaxQueued bytes; a client whose queue would overflow is disconnected: it
// gets the "dropped" control frame (ErrDropped from ReadFrame) if the
// socket can take it, else just the closed connection. Frames are never
// silently left out of the middle of a stream: what a client received is a
// faithful prefix of the output. A dropped client can catch up from the log
// file.
package attach

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Stream identifiers.
const (
	Stdin   byte = 0
	Stdout  byte = 1
	Stderr  byte = 2
	Control byte = 255
)

const (
	headerSize = 5
	// MaxFrame is the largest payload a frame may carry.
	MaxFrame = 1 << 20
	// MaxQueued is how many bytes of output may wait for one client before
	// it is disconnected as too slow.
	MaxQueued = 4 << 20
	// closeFlushTimeout bounds how long Close waits for a client to take
	// what was queued for it.
	closeFlushTimeout = 5 * time.Second
	// dropTimeout bounds how long a write to a client that overflowed its
	// queue may still take before the connection is closed.
	dropTimeout = time.Second
)

// Control frame payloads.
const (
	ctlAttached = ""
	ctlEOF      = "eof"
	ctlDropped  = "dropped"
)

// ErrFrameTooLarge is returned for a frame whose length exceeds MaxFrame.
var ErrFrameTooLarge = errors.New("attach: frame too large")

// Server serves one container's attach socket.
type Server struct {
	path  string
	ln    *net.UnixListener
	stdin io.WriteCloser

	stdinMu     sync.Mutex
	stdinClosed bool

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool

	wg sync.WaitGroup // accept loop and client writers

	flushTimeout time.Duration // closeFlushTimeout; shorter in tests
}

// Listen creates the unix socket at path (mode 0600, replacing a stale
// socket left by an earlier server; its directory is created with mode 0700
// if missing) and serves it. stdin receives what clients send on stream 0;
// nil means stdin frames are ignored.
func Listen(path string, stdin io.WriteCloser) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// Close must not unlink a socket that a later server may own.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		_ = os.Remove(path)
		return nil, err
	}
	s := &Server{path: path, ln: ln, stdin: stdin, clients: map[*client]struct{}{}, flushTimeout: closeFlushTimeout}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			// EMFILE and friends: back off briefly rather than spin.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c := &client{conn: conn, wake: make(chan struct{}, 1)}
		c.queue = append(c.queue, frame(Control, []byte(ctlAttached)))
		c.queued = headerSize
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.clients[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		c.signal()
		go s.writeLoop(c)
		go s.readLoop(c)
	}
}

// Broadcast sends p on stream to every attached client. It never blocks on a
// client: a client that cannot keep up is disconnected. p may be reused by
// the caller after Broadcast returns.
func (s *Server) Broadcast(stream byte, p []byte) {
	if len(p) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.clients) == 0 {
		return
	}
	var frames [][]byte
	for len(p) > 0 {
		n := min(len(p), MaxFrame)
		frames = append(frames, frame(stream, p[:n]))
		p = p[n:]
	}
	for c := range s.clients {
		if !c.enqueue(frames) {
			delete(s.clients, c)
		}
	}
}

// Clients returns the number of attached clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Close ends the output: every client receives what was queued for it
// (waiting at most a few seconds for a stalled one), then EOF. The socket is
// removed. The stdin WriteCloser is not closed by Close; its owner closes it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()

	err := s.ln.Close()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	for c := range clients {
		c.finish(s.flushTimeout)
	}
	s.wg.Wait()
	return err
}

func (s *Server) writeLoop(c *client) {
	defer s.wg.Done()
	defer c.conn.Close()
	for {
		bufs, done, dropped := c.take()
		if dropped {
			// The last write completed whole: the marker can follow.
			_ = c.conn.SetWriteDeadline(time.Now().Add(dropTimeout))
			_, _ = c.conn.Write(frame(Control, []byte(ctlDropped)))
			return
		}
		if done {
			// finish set the write deadline.
			bufs = append(bufs, frame(Control, []byte(ctlEOF)))
		}
		if len(bufs) > 0 {
			n := 0
			for _, b := range bufs {
				n += len(b)
			}
			nb := net.Buffers(bufs)
			if _, err := nb.WriteTo(c.conn); err != nil {
				s.drop(c)
				return
			}
			c.release(n)
		}
		if done {
			return
		}
		if len(bufs) == 0 {
			<-c.wake
		}
	}
}

// readLoop takes stdin frames from a client. Close does not wait for it: it
// may be blocked writing to a stdin nobody reads; it ends when the
// connection is closed or the write returns.
func (s *Server) readLoop(c *client) {
	hdr := make([]byte, headerSize)
	var buf []byte
	for {
		if _, err := io.ReadFull(c.conn, hdr); err != nil {
			// EOF: the client closed its writing side; it may still be
			// reading output, so it stays attached.
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > MaxFrame {
			s.drop(c)
			return
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c.conn, buf); err != nil {
			return
		}
		if hdr[0] != Stdin || s.stdin == nil {
			continue
		}
		s.writeStdin(buf)
	}
}

func (s *Server) writeStdin(p []byte) {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdinClosed {
		return
	}
	if len(p) == 0 {
		s.stdinClosed = true
		_ = s.stdin.Close()
		return
	}
	if _, err := s.stdin.Write(p); err != nil {
		// The process is gone or closed its stdin: further input is moot.
		s.stdinClosed = true
		_ = s.stdin.Close()
	}
}

// drop disconnects a client at once (write error, protocol error).
func (s *Server) drop(c *client) {
	s.mu.Lock()
	if s.clients != nil {
		delete(s.clients, c)
	}
	s.mu.Unlock()
	_ = c.conn.Close()
}

// client is one attached connection with its output queue.
type client struct {
	conn *net.UnixConn
	wake chan struct{}

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	done    bool // no more frames will be queued: flush, then EOF
	dropped bool // disconnect now
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue adds frames, or drops the client if its queue is full; it reports
// whether the client is still attached.
func (c *client) enqueue(frames [][]byte) bool {
	c.mu.Lock()
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	if c.dropped || c.queued+n > MaxQueued {
		c.dropped = true
		c.queue = nil
		c.mu.Unlock()
		// A write in progress gets a little longer, then fails.
		_ = c.conn.SetWriteDeadline(time.Now().Add(dropTimeout))
		c.signal()
		return false
	}
	c.queue = append(c.queue, frames...)
	c.queued += n
	c.mu.Unlock()
	c.signal()
	return true
}

func (c *client) take() (bufs [][]byte, done, dropped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bufs = c.queue
	c.queue = nil
	return bufs, c.done, c.dropped
}

func (c *client) release(n int) {
	c.mu.Lock()
	c.queued -= n
	c.mu.Unlock()
}

// finish makes the writer send what is queued, then EOF, within timeout
// (this also bounds a write already blocked on a stalled client).
func (c *client) finish(timeout time.Duration) {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	c.signal()
}

func frame(stream byte, p []byte) []byte {
	b := make([]byte, headerSize+len(p))
	b[0] = stream
	binary.BigEndian.PutUint32(b[1:], uint32(len(p)))
	copy(b[headerSize:], p)
	return b
}
