package attach

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// ErrDropped is returned by ReadFrame when the server disconnected the
// client for not keeping up with the output (see the package doc).
var ErrDropped = errors.New("attach: disconnected for reading too slowly")

// Conn is a client connection to an attach socket.
type Conn struct {
	conn *net.UnixConn
	r    *bufio.Reader
	hdr  [headerSize]byte
	wmu  sync.Mutex
	end  error // io.EOF or ErrDropped once the server said so
}

// Dial connects to the attach socket at path and waits until the server has
// registered the connection: every output frame broadcast after Dial
// returns is delivered to it.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: nc.(*net.UnixConn), r: bufio.NewReaderSize(nc, 64<<10)}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	stream, p, err := c.readFrame()
	stop()
	if err == nil && (stream != Control || string(p) != ctlAttached) {
		err = fmt.Errorf("attach %s: unexpected first frame (stream %d, %q)", path, stream, p)
	}
	if err != nil {
		_ = c.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("attach %s: server closed the connection: %w", path, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return c, nil
}

// ReadFrame returns the next output frame (stream Stdout or Stderr). The
// payload is the caller's to keep. It returns io.EOF when the output has
// ended, ErrDropped when the server disconnected this client for being too
// slow, and io.ErrUnexpectedEOF when the connection ended without either
// (the server died).
func (c *Conn) ReadFrame() (stream byte, p []byte, err error) {
	for c.end == nil {
		stream, p, err := c.readFrame()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, nil, err
		}
		if stream != Control {
			return stream, p, nil
		}
		switch string(p) {
		case ctlEOF:
			c.end = io.EOF
		case ctlDropped:
			c.end = ErrDropped
		}
		// Other control frames are for future versions: ignore them.
	}
	return 0, nil, c.end
}

func (c *Conn) readFrame() (stream byte, p []byte, err error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return 0, nil, err // io.EOF only at a frame boundary
	}
	n := binary.BigEndian.Uint32(c.hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return c.hdr[0], p, nil
}

// WriteStdin sends p to the container's stdin (in frames of at most
// MaxFrame bytes). Empty p sends nothing.
func (c *Conn) WriteStdin(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(p) > 0 {
		n := min(len(p), MaxFrame)
		if err := c.writeFrame(Stdin, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// CloseStdin closes the container's stdin (an empty stdin frame).
func (c *Conn) CloseStdin() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrame(Stdin, nil)
}

func (c *Conn) writeFrame(stream byte, p []byte) error {
	var hdr [headerSize]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	bufs := net.Buffers{hdr[:], p}
	_, err := bufs.WriteTo(c.conn)
	return err
}

// Close closes the connection. It does not close the container's stdin.
func (c *Conn) Close() error { return c.conn.Close() }
