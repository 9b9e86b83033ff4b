package apiserver

import (
	"context"
	"io"
	"sync"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// maxChunk bounds the data in one streamed message.
const maxChunk = 1 << 20

// output sends a stdio stream's server messages: first a greeting
// (attached / started), then output chunks. Sends are serialised (stdout
// and stderr may be written concurrently) and the greeting always goes
// first, whichever comes first: the engine signalling readiness or the
// first byte of output.
type output[Resp any] struct {
	mu       sync.Mutex
	send     func(*Resp) error
	greeting *Resp
	greeted  bool
}

func (o *output[Resp]) greet() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.greetLocked()
}

func (o *output[Resp]) greetLocked() error {
	if o.greeted {
		return nil
	}
	o.greeted = true
	return o.send(o.greeting)
}

// sendMsg sends m after the greeting.
func (o *output[Resp]) sendMsg(m *Resp) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.greetLocked(); err != nil {
		return err
	}
	return o.send(m)
}

// writer is an io.Writer whose writes become messages made by wrap, in
// chunks of at most maxChunk bytes.
func (o *output[Resp]) writer(wrap func([]byte) *Resp) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		n := 0
		for len(p) > 0 {
			c := p[:min(len(p), maxChunk)]
			if err := o.sendMsg(wrap(c)); err != nil {
				return n, err
			}
			n += len(c)
			p = p[len(c):]
		}
		return n, nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// stdioRequest is a client message of Attach or ExecStart after the first.
type stdioRequest interface {
	GetStdin() []byte
	GetResize() *berthv1.WindowSize
	GetCloseStdin() *berthv1.CloseStdin
}

// input carries a client's stdin and resizes to the engine's Streams.
type input struct {
	// stdin is the engine's end of the client's stdin (nil: not attached).
	stdin *io.PipeReader
	// chunks queues stdin for the goroutine writing it to the pipe, so that
	// a resize is not held up behind input the engine has not read yet; a
	// nil chunk closes stdin.
	chunks chan []byte
	// sizes holds the latest terminal size not yet taken by the engine.
	sizes chan containertypes.WindowSize
}

// stdinQueue is how many stdin chunks may wait for the engine before the
// client is held back.
const stdinQueue = 16

func newInput(attachStdin bool) *input {
	in := &input{sizes: make(chan containertypes.WindowSize, 1)}
	if attachStdin {
		var w *io.PipeWriter
		in.stdin, w = io.Pipe()
		in.chunks = make(chan []byte, stdinQueue)
		go func() {
			defer w.Close()
			for p := range in.chunks {
				if p == nil {
					return
				}
				// Blocks until the engine takes it; close() unblocks it.
				if _, err := w.Write(p); err != nil {
					return
				}
			}
		}()
	}
	return in
}

// streams are the engine's view of the client's input (output added by the caller).
func (in *input) streams() containertypes.Streams {
	s := containertypes.Streams{Resize: in.sizes}
	if in.stdin != nil {
		s.Stdin = in.stdin
	}
	return s
}

// serve reads client messages until the client stops sending or the call
// ends (ctx). The end of the client's stream closes stdin.
func (in *input) serve(ctx context.Context, recv func() (stdioRequest, error)) {
	defer close(in.sizes)
	if in.chunks != nil {
		defer close(in.chunks)
	}
	stdinOpen := in.chunks != nil
	queue := func(p []byte) bool {
		select {
		case in.chunks <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		m, err := recv()
		if err != nil {
			return
		}
		switch {
		case m.GetResize() != nil:
			in.resize(conv.WindowSizeFromProto(m.GetResize()))
		case m.GetCloseStdin() != nil:
			if stdinOpen {
				stdinOpen = false
				if !queue(nil) {
					return
				}
			}
		case len(m.GetStdin()) > 0 && stdinOpen:
			if !queue(m.GetStdin()) {
				return
			}
		}
	}
}

// resize keeps the newest size: an engine that does not read sizes (no
// tty) never blocks the client's input.
func (in *input) resize(s containertypes.WindowSize) {
	for {
		select {
		case in.sizes <- s:
			return
		default:
		}
		select {
		case <-in.sizes: // drop the stale size
		default:
		}
	}
}

// close ends stdin for the engine (a pending write fails).
func (in *input) close() {
	if in.stdin != nil {
		in.stdin.CloseWithError(io.ErrClosedPipe)
	}
}
