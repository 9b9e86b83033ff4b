package ttrpcwire

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/shim/internal/taskwire"
)

// Method handles one unary call: it gets the request payload and returns
// the response payload, or an error (a *Status keeps its code; any other
// error is Unknown).
type Method func(ctx context.Context, payload []byte) ([]byte, error)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ttrpc: server closed")

// Server serves unary ttrpc calls. Each connection has one goroutine
// reading requests; each request runs in a goroutine of its own (a Wait
// blocks for as long as the process runs) and writes its response under the
// connection's lock.
type Server struct {
	methods map[string]map[string]Method

	active atomic.Int32 // requests being handled

	mu       sync.Mutex
	listener net.Listener
	conns    map[net.Conn]struct{}
	closed   bool
}

// NewServer returns a server without services.
func NewServer() *Server {
	return &Server{methods: map[string]map[string]Method{}, conns: map[net.Conn]struct{}{}}
}

// Register adds a method of a service (e.g. "containerd.task.v3.Task",
// "Create").
func (s *Server) Register(service, method string, m Method) {
	if s.methods[service] == nil {
		s.methods[service] = map[string]Method{}
	}
	s.methods[service][method] = m
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listener = l
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serveConn(ctx, c)
	}
}

// Shutdown stops accepting connections and waits until no request is being
// handled (or ctx is done), then closes the connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.listener != nil {
		s.listener.Close()
	}
	s.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var err error
	for s.active.Load() > 0 && err == nil {
		select {
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return err
}

type serverConn struct {
	c  net.Conn
	mu sync.Mutex // serializes writes
}

func (sc *serverConn) send(streamID uint32, st *Status, payload []byte) {
	p := taskwire.Marshal(&response{Status: st, Payload: payload})
	b := frame(streamID, typeResponse, p)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	_, _ = sc.c.Write(b)
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel() // ends the calls still waiting on this connection
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sc := &serverConn{c: c}
	var last uint32
	for {
		h, err := readHeader(c)
		if err != nil {
			return
		}
		if h.length > maxMessage {
			if _, err := io.CopyN(io.Discard, c, int64(h.length)); err != nil {
				return
			}
			sc.send(h.streamID, &Status{Code: ResourceExhausted, Message: "message too large"}, nil)
			continue
		}
		p := make([]byte, h.length)
		if _, err := io.ReadFull(c, p); err != nil {
			return
		}
		switch {
		case h.streamID%2 != 1:
			sc.send(h.streamID, &Status{Code: InvalidArgument, Message: "StreamID must be odd for client initiated streams"}, nil)
		case h.typ == typeData:
			sc.send(h.streamID, &Status{Code: InvalidArgument, Message: "StreamID is no longer active"}, nil)
		case h.typ != typeRequest:
		case h.streamID <= last:
			sc.send(h.streamID, &Status{Code: InvalidArgument, Message: "StreamID cannot be re-used and must increment"}, nil)
		default:
			last = h.streamID
			var req request
			if err := taskwire.Unmarshal(p, &req); err != nil {
				sc.send(h.streamID, &Status{Code: InvalidArgument, Message: "unmarshal request error: " + err.Error()}, nil)
				continue
			}
			m, err := s.lookup(&req)
			if err != nil {
				sc.send(h.streamID, err.(*Status), nil)
				continue
			}
			s.active.Add(1)
			go s.call(ctx, sc, h.streamID, &req, m)
		}
	}
}

func (s *Server) lookup(req *request) (Method, error) {
	svc, ok := s.methods[req.Service]
	if !ok {
		return nil, &Status{Code: Unimplemented, Message: "service " + req.Service}
	}
	m, ok := svc[req.Method]
	if !ok {
		return nil, &Status{Code: Unimplemented, Message: "method " + req.Method}
	}
	return m, nil
}

func (s *Server) call(ctx context.Context, sc *serverConn, id uint32, req *request, m Method) {
	defer s.active.Add(-1)
	if req.TimeoutNano > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutNano))
		defer cancel()
	}
	out, err := m(ctx, req.Payload)
	if err != nil {
		var st *Status
		if !errors.As(err, &st) {
			st = &Status{Code: Unknown, Message: err.Error()}
		}
		sc.send(id, st, nil)
		return
	}
	sc.send(id, &Status{}, out)
}
