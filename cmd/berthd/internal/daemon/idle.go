package daemon

import (
	"context"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// gcPercent is berthd's GOGC unless its environment sets one. With Go's
// default (100) a burst (an image load, a few runs) spreads the objects
// that outlive it over more partly used spans, which the idle trim cannot
// return: in make bench's idle berthd 8.25 MB of anonymous memory at 100,
// 7.87 MB at 50 (six alternating runs each), for a collection about twice
// as often during bursts on a heap of a few MB.
const gcPercent = 50

// tuneGC sets berthd's GOGC to gcPercent, unless GOGC is set.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
}

// idleTrimDelay is how long the API must have been idle before berthd
// gives its free heap memory back to the OS.
const idleTrimDelay = 500 * time.Millisecond

// idleTrimmer gives the heap's free memory back to the OS once no API call
// has run for idleTrimDelay. After a burst (an image load, a few runs) the
// Go runtime keeps the pages the burst freed until its background scavenger
// returns them, minutes later, so an idle berthd held ~8 MB more than it
// needs (docs/performance.md, "Idle daemons"). One forced collection per trim costs a few milliseconds
// of CPU on berthd's small heap. Streams (events, logs -f, attach) and
// Docker API requests count as activity only when they start and end: a
// client following events must not keep the memory from being returned.
type idleTrimmer struct {
	mu     sync.Mutex
	active int
	timer  *time.Timer
	trim   func()
}

// idle is berthd's trimmer, fed by the gRPC API and the Docker API.
var idle = newIdleTrimmer()

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

// activity marks one moment of API activity (a stream's or a request's
// start or end).
func (t *idleTrimmer) activity() {
	t.begin()
	t.end()
}

// IdleHTTP counts h's requests (the Docker API's) as API activity for
// berthd's idle trim, at their start and at their end.
func IdleHTTP(h http.Handler) http.Handler { return idle.handler(h) }

func (t *idleTrimmer) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.activity()
		defer t.activity()
		h.ServeHTTP(w, r)
	})
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
			t.activity()
			defer t.activity()
			return h(srv, ss)
		}),
	}
}
