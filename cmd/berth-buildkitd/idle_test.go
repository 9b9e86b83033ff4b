package main

import (
	"context"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// TestSettleWaitsForReleasedRecords: a prune -a right after a build waits
// until the records BuildKit releases in the background are free, and
// does not wait while a build runs (its records are in use for good).
func TestSettleWaitsForReleasedRecords(t *testing.T) {
	calls := 0
	inUseFor := 3 // the records are released after the third look
	w := newIdleWatch(options{}, leaseSweeper{}, func(context.Context) ([]*client.UsageInfo, error) {
		calls++
		return []*client.UsageInfo{{ID: "r1", InUse: calls <= inUseFor}, {ID: "r2"}}, nil
	})
	if err := w.settle(context.Background(), time.Minute, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls != inUseFor+1 {
		t.Errorf("settle looked %d times, want %d (until the record in use was released)", calls, inUseFor+1)
	}

	calls, inUseFor = 0, 1000
	if err := w.settle(context.Background(), 20*time.Millisecond, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls >= inUseFor {
		t.Errorf("settle did not give up on a record that stays in use")
	}

	calls = 0
	w.building.Add(1)
	defer w.building.Add(-1)
	if err := w.settle(context.Background(), time.Minute, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("settle looked %d times while a build runs, want 0", calls)
	}
}
