package dockerapi

import (
	"errors"
	"testing"
)

// An attachment with nothing to send (neither stream nor logs) registers
// and ends before the handler looks; the handler must still answer it
// (moby's TestAttach got a 200 without the upgrade once in CI).
func TestRegisteredWhenAlreadyEnded(t *testing.T) {
	for i := range 200 {
		ready, done := make(chan struct{}), make(chan error, 1)
		close(ready)
		done <- nil
		if ok, err := registered(ready, done); !ok || err != nil {
			t.Fatalf("try %d: registered = %v, %v; want true, nil", i, ok, err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("done gave %v", err)
			}
		default:
			t.Fatal("the engine's result was lost")
		}
	}
}

func TestRegisteredFailedBefore(t *testing.T) {
	ready, done := make(chan struct{}), make(chan error, 1)
	boom := errors.New("no such container")
	done <- boom
	if ok, err := registered(ready, done); ok || !errors.Is(err, boom) {
		t.Fatalf("registered = %v, %v; want false, %v", ok, err, boom)
	}
}
