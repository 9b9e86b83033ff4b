package daemon

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// idleTrimDelay is how long the API must have been idle before berthd
// gives its free heap memory back to the OS.
const idleTrimDelay = 500 * time.Millisecond

// idleTrimmer gives the heap's free memory back to the OS once no API call
// has run for idleTrimDelay. After a burst (an image load, a few runs) the
// Go runtime keeps the pages the burst freed until its background scavenger
// returns them, minutes later, so an idle berthd held ~8 MB more than it
// needs (docs/performance.md, "Idle memory"). One forced collection per
// idle gap costs a few milliseconds of CPU on berthd's small heap. Streams
// (events, logs -f, attach) count as activity only when they start and end:
// a client following events must not keep the memory from being returned.
type idleTrimmer struct {
	mu     sync.Mutex
	active int
	timer  *time.Timer
	trim   func()
}

func newIdleTrimmer() *idleTrimmer { return &idleTrimmer{trim: debug.FreeOSMemory} }

func (t *idleTrimmer) begin() {
	t.mu.Lock()
	t.active++
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
}

func (t *idleTrimmer) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	if t.active > 0 {
		return
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(idleTrimDelay, t.fire)
	} else {
		t.timer.Reset(idleTrimDelay)
	}
}

func (t *idleTrimmer) fire() {
	t.mu.Lock()
	busy := t.active > 0
	t.mu.Unlock()
	if !busy {
		t.trim()
	}
}

// serverOptions are the interceptors that feed the trimmer.
func (t *idleTrimmer) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			t.begin()
			defer t.end()
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			t.begin()
			t.end()
			defer func() { t.begin(); t.end() }()
			return h(srv, ss)
		}),
	}
}
