package ttrpcwire

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/berthproject/berth/shim/internal/taskwire"
)

// Client makes unary calls one at a time on one connection (the shim only
// publishes events, in order).
type Client struct {
	conn net.Conn
	next uint32
}

// Dial connects to a ttrpc server on a unix socket.
func Dial(path string, timeout time.Duration) (*Client, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	return NewClient(c), nil
}

// NewClient makes calls on an open connection.
func NewClient(c net.Conn) *Client { return &Client{conn: c, next: 1} }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call sends a request and waits for its response until ctx's deadline.
// A non-OK answer is returned as a *Status.
func (c *Client) Call(ctx context.Context, service, method string, payload []byte) ([]byte, error) {
	req := &request{Service: service, Method: method, Payload: payload}
	deadline, ok := ctx.Deadline()
	if ok {
		req.TimeoutNano = int64(time.Until(deadline))
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	id := c.next
	c.next += 2
	if _, err := c.conn.Write(frame(id, typeRequest, taskwire.Marshal(req))); err != nil {
		return nil, err
	}
	for {
		h, err := readHeader(c.conn)
		if err != nil {
			return nil, err
		}
		if h.length > maxMessage {
			return nil, fmt.Errorf("ttrpc: response of %d bytes", h.length)
		}
		p := make([]byte, h.length)
		if _, err := io.ReadFull(c.conn, p); err != nil {
			return nil, err
		}
		if h.streamID != id || h.typ != typeResponse {
			continue
		}
		var resp response
		if err := taskwire.Unmarshal(p, &resp); err != nil {
			return nil, err
		}
		if resp.Status != nil && resp.Status.Code != OK {
			return nil, resp.Status
		}
		return resp.Payload, nil
	}
}
