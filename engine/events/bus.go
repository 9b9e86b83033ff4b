// Package events is the engine's event bus: the engine publishes what
// happened to containers, images, networks and volumes; API servers
// subscribe, with a bounded history replayed for --since. The event types
// live in pkg/types/events.
package events

import (
	"context"
	"sync"
	"time"

	"github.com/berthproject/berth/pkg/types/events"
)

// historySize bounds the events kept for --since replays.
const historySize = 1024

// Bus fans events out to subscribers and keeps a bounded history.
type Bus struct {
	mu      sync.Mutex
	history []events.Message
	subs    map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan events.Message
	filter events.Filter
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{subs: make(map[*subscriber]struct{})}
}

// Publish records m and delivers it to every matching subscriber. A
// subscriber that does not keep up loses events rather than slowing the
// engine down.
func (b *Bus) Publish(m events.Message) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.history) == historySize {
		copy(b.history, b.history[1:])
		b.history = b.history[:historySize-1]
	}
	b.history = append(b.history, m)
	for s := range b.subs {
		if s.filter.Match(m) {
			select {
			case s.ch <- m:
			default:
			}
		}
	}
}

// Subscribe returns the events matching f: first the recorded ones since
// f.Since (when set), then live ones until ctx is done or f.Until passes.
// The channel is closed at the end.
func (b *Bus) Subscribe(ctx context.Context, f events.Filter) (<-chan events.Message, error) {
	s := &subscriber{ch: make(chan events.Message, 256), filter: f}
	out := make(chan events.Message, 256)
	b.mu.Lock()
	var replay []events.Message
	if !f.Since.IsZero() {
		for _, m := range b.history {
			if !m.Time.Before(f.Since) && f.Match(m) {
				replay = append(replay, m)
			}
		}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	go func() {
		defer close(out)
		defer func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		}()
		var deadline <-chan time.Time
		if !f.Until.IsZero() {
			t := time.NewTimer(time.Until(f.Until))
			defer t.Stop()
			deadline = t.C
		}
		send := func(m events.Message) bool {
			if !f.Until.IsZero() && m.Time.After(f.Until) {
				return false
			}
			select {
			case out <- m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		last := time.Time{}
		for _, m := range replay {
			if !send(m) {
				return
			}
			last = m.Time
		}
		for {
			select {
			case m := <-s.ch:
				if !m.Time.After(last) && !last.IsZero() {
					continue // already replayed
				}
				if !send(m) {
					return
				}
			case <-deadline:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
