package daemon

import (
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
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

// A Docker API request is activity: it is followed by a trim.
func TestIdleTrimmerHTTP(t *testing.T) {
	trimmed := make(chan time.Time, 10)
	tr := &idleTrimmer{trim: func() { trimmed <- time.Now() }}
	h := tr.handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/_ping", nil))
	select {
	case <-trimmed:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after a Docker API request")
	}
}

// berthd runs its collector at gcPercent, or at the GOGC its environment
// sets.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t.Setenv("GOGC", "200")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC=200 in the environment: percent %d, want it left alone", got)
	}
	os.Unsetenv("GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("no GOGC: percent %d, want %d", got, gcPercent)
	}
}
