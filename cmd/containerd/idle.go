package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// containerd's heap after a burst (an image load, a few runs) keeps the
// pages the burst freed until the Go runtime's background scavenger returns
// them, minutes later. berthd gives its free heap back to the OS when its
// API goes idle; containerd has no such hook, so its idleness is read from
// the runtime: a second in which it allocated (almost) nothing, after it
// allocated enough since the last trim to be worth one forced collection
// (docs/performance.md, "Idle daemons, third pass").
const (
	idleTick    = time.Second
	idleAllocs  = 64 << 10 // allocated in one idleTick: still idle
	burstAllocs = 1 << 20  // allocated since the last trim: worth a trim
)

// trimWhenIdle runs for the daemon's life, waking once per idleTick.
func trimWhenIdle(trim func()) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocs := func() uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	last := allocs()
	trimmed := last
	for range time.Tick(idleTick) {
		now := allocs()
		if now-last < idleAllocs && now-trimmed >= burstAllocs {
			trim()
			now = allocs()
			trimmed = now
		}
		last = now
	}
}

func init() { go trimWhenIdle(debug.FreeOSMemory) }
