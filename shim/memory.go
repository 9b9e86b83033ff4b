package shim

import (
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// memoryLimit bounds the shim's memory whatever happens.
	memoryLimit = 16 << 20
	// collectRequests and collectOutput are how many requests, or how
	// much logged output, make enough garbage for a collection (requests
	// leave ~10-40 kB each, logging about twice what it logs).
	collectRequests = 64
	collectOutput   = 512 << 10
	// trimDelay is how long the shim must be idle before it collects (if
	// there is enough garbage) and gives free memory back.
	trimDelay = time.Second
)

// memoryPolicy runs the Go GC of a shim, which is idle almost all its life.
//
// The GC's pacer is off (GOGC=off): each collection costs memory of its own
// (the runtime's span sets and mark bitmaps grow with collections and are
// never given back; measured with 20 sleeping containers, a shim that never
// collected is ~0.1 MB smaller than one that collected once, more than the
// garbage of starting a container), and with the pacer on Go collects every
// two minutes even in an idle process. Instead the shim collects once it
// made enough garbage: after collectRequests requests (once it is idle for
// trimDelay, then also giving free memory back to the kernel) or
// collectOutput of logged output (or 4*collectRequests requests without a
// pause). Counting is used rather than reading the
// heap size: runtime.ReadMemStats flushes the allocation caches (measured:
// +0.3 MB) and runtime/metrics builds its tables on first use (+50 kB).
// memoryLimit stays as the runtime's own bound.
type memoryPolicy struct {
	timer    *time.Timer
	requests atomic.Int64 // since the last collection
	logged   atomic.Int64 // output since the last collection

	mu sync.Mutex // one collection at a time
}

func newMemoryPolicy() *memoryPolicy {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(memoryLimit)
	m := &memoryPolicy{}
	m.timer = time.AfterFunc(time.Hour, m.trim)
	m.timer.Stop()
	return m
}

// request is called after every request.
func (m *memoryPolicy) request() {
	if m.requests.Add(1) >= 4*collectRequests {
		// Requests without a pause (a client polling fast).
		m.mu.Lock()
		if m.requests.Load() >= 4*collectRequests {
			m.requests.Store(0)
			runtime.GC()
		}
		m.mu.Unlock()
	}
	m.timer.Reset(trimDelay)
}

// output is called for every read of logged output.
func (m *memoryPolicy) output(n int) {
	if m.logged.Add(int64(n)) >= collectOutput {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.logged.Load() >= collectOutput {
			m.logged.Store(0)
			runtime.GC()
		}
	}
}

// trim runs once the shim is idle.
func (m *memoryPolicy) trim() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests.Load() < collectRequests {
		return
	}
	m.requests.Store(0)
	m.logged.Store(0)
	debug.FreeOSMemory()
}

// countingReader reports the bytes read.
type countingReader struct {
	r  io.Reader
	fn func(int)
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.fn(n)
	return n, err
}
