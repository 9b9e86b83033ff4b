package ttrpcwire

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/berthproject/berth/shim/internal/taskwire"
)

// oneConn is a listener that hands out one connection.
type oneConn struct {
	c    net.Conn
	done chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	if c := l.c; c != nil {
		l.c = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }

func seedFrame(streamID uint32, typ byte, payload []byte) []byte {
	return frame(streamID, typ, payload)
}

// FuzzServerConn feeds arbitrary bytes to the server's connection reader
// (what containerd, or anything that reaches the shim's socket, sends):
// never a panic, and the connection ends when the bytes do.
func FuzzServerConn(f *testing.F) {
	req := taskwire.Marshal(&request{Service: "s", Method: "m", Payload: []byte("x"), TimeoutNano: 1})
	f.Add(seedFrame(1, typeRequest, req))
	f.Add(append(seedFrame(1, typeRequest, req), seedFrame(1, typeRequest, req)...))
	f.Add(seedFrame(2, typeRequest, req))
	f.Add(seedFrame(3, typeData, nil))
	f.Add(seedFrame(5, typeRequest, []byte{0x0a, 0xff}))
	f.Add(seedFrame(7, typeRequest, taskwire.Marshal(&request{Service: "nope"})))
	huge := make([]byte, headerLength)
	binary.BigEndian.PutUint32(huge, maxMessage+1)
	huge[7], huge[8] = 9, typeRequest
	f.Add(huge)
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 1, 1}) // truncated header
	f.Fuzz(func(t *testing.T, b []byte) {
		srv := NewServer()
		srv.Register("s", "m", func(ctx context.Context, p []byte) ([]byte, error) { return p, nil })
		client, server := net.Pipe()
		l := &oneConn{c: server, done: make(chan struct{})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(context.Background(), l) }()
		// Drain the answers so the server never blocks writing them.
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = client.Write(b)
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		close(l.done)
		<-served
	})
}

// FuzzClientResponse feeds arbitrary bytes to the client as the answer to a
// call: an error or a payload, never a panic or a hang.
func FuzzClientResponse(f *testing.F) {
	f.Add(seedFrame(1, typeResponse, taskwire.Marshal(&response{Payload: []byte("ok")})))
	f.Add(seedFrame(1, typeResponse, taskwire.Marshal(&response{Status: &Status{Code: NotFound, Message: "x"}})))
	f.Add(append(seedFrame(3, typeResponse, nil), seedFrame(1, typeResponse, []byte{0x12, 0x01, 0x41})...))
	f.Add(seedFrame(1, typeResponse, []byte{0x0a, 0x05, 0x08}))
	f.Fuzz(func(t *testing.T, b []byte) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			var h [headerLength]byte
			if _, err := io.ReadFull(server, h[:]); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, server, int64(binary.BigEndian.Uint32(h[:4]))); err != nil {
				return
			}
			_, _ = server.Write(b)
		}()
		c := NewClient(client)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.Call(ctx, "s", "m", []byte("p"))
		if ctx.Err() != nil {
			t.Fatal("the call hung until its deadline on a closed connection")
		}
	})
}
