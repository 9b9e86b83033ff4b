// Package term puts the caller's terminal in raw mode and reports its size
// and size changes, for interactive containers (`berth run -it`, `exec -it`).
package term

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	xterm "golang.org/x/term"
)

// Size of a terminal in character cells.
type Size struct {
	Width, Height uint16
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f any) bool {
	fd, ok := fdOf(f)
	return ok && xterm.IsTerminal(fd)
}

// GetSize returns the size of the terminal f.
func GetSize(f any) (Size, bool) {
	fd, ok := fdOf(f)
	if !ok {
		return Size{}, false
	}
	w, h, err := xterm.GetSize(fd)
	if err != nil || w <= 0 || h <= 0 {
		return Size{}, false
	}
	return Size{Width: uint16(w), Height: uint16(h)}, true
}

// MakeRaw puts the terminal f in raw mode and returns the function that
// restores it; call restore on every exit path (it is safe to call twice).
// When f is not a terminal it does nothing.
func MakeRaw(f any) (restore func(), err error) {
	fd, ok := fdOf(f)
	if !ok || !xterm.IsTerminal(fd) {
		return func() {}, nil
	}
	st, err := xterm.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	done := false
	return func() {
		if !done {
			done = true
			_ = xterm.Restore(fd, st)
		}
	}, nil
}

// WatchSize sends the size of the terminal f at once and after every
// SIGWINCH until ctx is done, then closes the channel. A slow reader only
// misses intermediate sizes, never the latest one.
func WatchSize(ctx context.Context, f any) <-chan Size {
	out := make(chan Size, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() {
		s, ok := GetSize(f)
		if !ok {
			return
		}
		select {
		case <-out: // drop a stale size nobody read yet
		default:
		}
		out <- s
	}
	go func() {
		defer close(out)
		defer signal.Stop(winch)
		send()
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				send()
			}
		}
	}()
	return out
}

type fder interface{ Fd() uintptr }

func fdOf(f any) (int, bool) {
	v, ok := f.(fder)
	if !ok {
		return 0, false
	}
	return int(v.Fd()), true
}

// terminating are the signals that end a process by default and that a user
// or a supervisor sends to a CLI (Ctrl-C in raw mode is not a signal).
var terminating = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT}

// RestoreOnSignal makes sure a raw terminal is restored when the process is
// killed by a terminating signal: it catches them, calls restore, and
// raises the signal again so the process still dies of it. stop undoes it.
func RestoreOnSignal(restore func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, terminating...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			restore()
			signal.Reset(s)
			if sig, ok := s.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), sig)
			}
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
