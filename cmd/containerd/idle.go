package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// containerd's heap after a burst (an image load, a few runs) keeps the
// pages the burst freed until the Go runtime's background scavenger returns
// them, minutes later. berthd gives its free heap back to the OS when its
// API goes idle; containerd has no such hook, so its idleness is read from
// the runtime: a stretch in which it allocated (almost) nothing, after it
// allocated enough since the last trim to be worth one forced collection
// (docs/performance.md, "Idle daemons, third pass").
//
// At rest it looks once per idleTick. A burst is noticed at once when it
// is large enough for a collection (each collection wakes the trimmer), or
// at the next idleTick otherwise; from then on it looks every busyTick and
// trims after the first busyTick without allocations: a burst's pages go
// back about a tenth of a second after it ends, not one to two seconds
// later, when `make bench` samples an idle containerd.
const (
	idleTick    = time.Second
	idleAllocs  = 64 << 10 // allocated in one idleTick: still idle
	busyTick    = 100 * time.Millisecond
	quietAllocs = 16 << 10 // allocated in one busyTick: the burst is over
	burstAllocs = 1 << 20  // allocated since the last trim: worth a trim
)

// heapAllocs reads the bytes the process allocated so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// trimWhenIdle runs for the daemon's life; allocs is heapAllocs.
func trimWhenIdle(trim func(), allocs func() uint64) {
	collected := make(chan struct{}, 1)
	watchCollections(collected)
	last := allocs()
	trimmed := last
	t := time.NewTimer(idleTick)
	busy := false
	for {
		select {
		case <-t.C:
		case <-collected:
			if !busy {
				busy = true
				t.Reset(busyTick)
			}
			continue
		}
		now := allocs()
		switch {
		case !busy && now-last >= idleAllocs:
			busy = true
		case busy && now-last >= quietAllocs:
		default:
			if now-trimmed >= burstAllocs {
				trim()
				now = allocs()
				trimmed = now
			}
			busy = false
		}
		last = now
		if busy {
			t.Reset(busyTick)
		} else {
			t.Reset(idleTick)
		}
	}
}

// watchCollections sends on c (without blocking) after each garbage
// collection: a sentinel's cleanup runs once a collection found it
// unreachable, and arms the next sentinel.
func watchCollections(c chan<- struct{}) {
	sentinel := new([32]byte)
	runtime.AddCleanup(sentinel, func(c chan<- struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
		watchCollections(c)
	}, c)
}

func init() { go trimWhenIdle(debug.FreeOSMemory, heapAllocs) }
