package container

import (
	"testing"
	"time"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

func TestHealthRecordDockerSemantics(t *testing.T) {
	start := time.Now()
	h := &healthState{cfg: containertypes.HealthConfig{Retries: 2, StartPeriod: time.Minute}.WithDefaults(), startedAt: start}
	h.health.Status = containertypes.HealthStarting
	fail := func(at time.Time) { h.recordLocked(containertypes.HealthcheckResult{Start: at, ExitCode: 1}) }
	// Failures in the start period do not count.
	fail(start.Add(time.Second))
	fail(start.Add(2 * time.Second))
	if h.health.Status != containertypes.HealthStarting || h.health.FailingStreak != 0 {
		t.Fatalf("in the start period: %+v", h.health)
	}
	// After it, retries failures in a row make the container unhealthy.
	fail(start.Add(2 * time.Minute))
	if h.health.Status != containertypes.HealthStarting || h.health.FailingStreak != 1 {
		t.Fatalf("one failure: %+v", h.health)
	}
	fail(start.Add(3 * time.Minute))
	if h.health.Status != containertypes.HealthUnhealthy {
		t.Fatalf("two failures: %+v", h.health)
	}
	h.recordLocked(containertypes.HealthcheckResult{Start: start.Add(4 * time.Minute), ExitCode: 0})
	if h.health.Status != containertypes.HealthHealthy || h.health.FailingStreak != 0 {
		t.Fatalf("a success: %+v", h.health)
	}
	for range 10 {
		fail(start.Add(5 * time.Minute))
	}
	if n := len(h.health.Log); n != containertypes.HealthMaxLog {
		t.Fatalf("log keeps %d results, want %d", n, containertypes.HealthMaxLog)
	}
}

func TestHealthNextDelay(t *testing.T) {
	start := time.Now()
	h := &healthState{cfg: containertypes.HealthConfig{Interval: time.Minute, StartInterval: time.Second, StartPeriod: 10 * time.Second}.WithDefaults(), startedAt: start}
	h.health.Status = containertypes.HealthStarting
	if d := h.nextDelayLocked(start.Add(time.Second)); d != time.Second {
		t.Fatalf("starting in the start period: %v, want the start interval", d)
	}
	if d := h.nextDelayLocked(start.Add(time.Minute)); d != time.Minute {
		t.Fatalf("after the start period: %v, want the interval", d)
	}
	h.health.Status = containertypes.HealthHealthy
	if d := h.nextDelayLocked(start.Add(time.Second)); d != time.Minute {
		t.Fatalf("healthy: %v, want the interval", d)
	}
}

func TestCappedBuffer(t *testing.T) {
	b := &cappedBuffer{max: 4}
	b.Write([]byte("ab"))
	if n, _ := b.Write([]byte("cdef")); n != 4 {
		t.Fatalf("Write returned %d", n)
	}
	if b.String() != "abcd" {
		t.Fatalf("got %q", b.String())
	}
}
