package attach

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

// Conn is a client connection to an attach socket.
type Conn struct {
	conn *net.UnixConn
	r    *bufio.Reader
	hdr  [headerSize]byte
	wmu  sync.Mutex
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
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	stream, _, err := c.ReadFrame()
	stop()
	if err == nil && stream != Control {
		err = fmt.Errorf("attach %s: unexpected first frame on stream %d", path, stream)
	}
	if err != nil {
		c.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == io.EOF {
			err = fmt.Errorf("attach %s: server closed the connection: %w", path, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return c, nil
}

// ReadFrame returns the next output frame. The payload is valid until the
// next call. It returns io.EOF when the output has ended.
func (c *Conn) ReadFrame() (stream byte, p []byte, err error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, err
		}
		return 0, nil, err // io.EOF at a frame boundary: output ended
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
