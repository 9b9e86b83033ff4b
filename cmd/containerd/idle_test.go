package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// A burst of allocations followed by quiet gets one trim; the trimmer does
// not trim again while nothing is allocated. The allocations are counted
// by the test, not read from the runtime: a burst of the test process's
// own, cut in two by a loaded machine's scheduler, looked like two.
func TestTrimAfterBurst(t *testing.T) {
	trims := make(chan struct{}, 10)
	var allocated atomic.Uint64
	go trimWhenIdle(func() { trims <- struct{}{} }, allocated.Load)
	time.Sleep(busyTick)
	allocated.Add(4 << 20)
	select {
	case <-trims:
	case <-time.After(time.Minute):
		t.Fatal("no trim after a 4 MB burst")
	}
	select {
	case <-trims:
		t.Fatal("trimmed again without a burst")
	case <-time.After(3 * idleTick):
	}
}
