package daemon

import (
	"testing"
	"time"
)

// The trimmer runs once the last call ended, never while one runs.
func TestIdleTrimmer(t *testing.T) {
	trimmed := make(chan time.Time, 10)
	tr := &idleTrimmer{trim: func() { trimmed <- time.Now() }}
	tr.begin()
	tr.begin()
	tr.end() // one call still running: no trim scheduled
	select {
	case <-trimmed:
		t.Fatal("trimmed while a call was running")
	case <-time.After(2 * idleTrimDelay):
	}
	ended := time.Now()
	tr.end()
	select {
	case at := <-trimmed:
		if at.Sub(ended) < idleTrimDelay {
			t.Fatalf("trimmed %v after the last call, before the idle delay %v", at.Sub(ended), idleTrimDelay)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not trimmed after the API went idle")
	}
	// A call that starts before the delay is over postpones the trim.
	tr.begin()
	tr.end()
	tr.begin()
	select {
	case <-trimmed:
		t.Fatal("trimmed while a call was running")
	case <-time.After(2 * idleTrimDelay):
	}
	tr.end()
	<-trimmed
}
