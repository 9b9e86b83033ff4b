package main

import (
	"runtime"
	"testing"
	"time"
)

// A burst of allocations followed by quiet gets one trim; the trimmer does
// not trim again while nothing is allocated.
func TestTrimAfterBurst(t *testing.T) {
	trims := make(chan struct{}, 10)
	go trimWhenIdle(func() { trims <- struct{}{} })
	var sink [][]byte
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
	runtime.KeepAlive(sink)
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
