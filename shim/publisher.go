package shim

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
	"github.com/berthproject/berth/shim/internal/ttrpcwire"
)

const (
	// publishQueueMax bounds the events kept while containerd is away.
	publishQueueMax = 1024
	// publishGiveUp is how long one event is retried before it is dropped.
	publishGiveUp = 2 * time.Minute
)

type envelope struct {
	topic string
	event tw.Message
	at    time.Time
}

// publisher forwards task events to containerd over its ttrpc socket, in
// order. When containerd is not there (restarting), events wait in a bounded
// queue and the connection is redialed with a backoff.
type publisher struct {
	address   string
	namespace string

	mu      sync.Mutex
	queue   []envelope
	sending bool // a goroutine is sending the queue (only while it is not empty)
	closed  bool
	idle    chan struct{} // closed when the queue is empty (replaced when it fills)

	client *ttrpcwire.Client
}

func newPublisher(address, namespace string) *publisher {
	p := &publisher{
		address:   strings.TrimPrefix(address, "unix://"),
		namespace: namespace,
		idle:      make(chan struct{}),
	}
	close(p.idle)
	return p
}

// publish queues an event; it never blocks the caller.
func (p *publisher) publish(topic string, event tw.Message) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if len(p.queue) == 0 {
		p.idle = make(chan struct{})
	}
	if len(p.queue) >= publishQueueMax {
		// Drop the oldest event not being sent right now.
		logf("event queue full, dropping %s", p.queue[1].topic)
		p.queue = append(p.queue[:1], p.queue[2:]...)
	}
	p.queue = append(p.queue, envelope{topic: topic, event: event, at: time.Now()})
	if !p.sending {
		// A shim is idle almost always: no goroutine waits for events
		// in between.
		p.sending = true
		go p.run()
	}
	p.mu.Unlock()
}

// flush waits until every queued event was sent or dropped, or ctx is done.
func (p *publisher) flush(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// run sends the queue until it is empty.
func (p *publisher) run() {
	for {
		p.mu.Lock()
		e := p.queue[0]
		p.mu.Unlock()
		p.send(e)
		p.mu.Lock()
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = nil
			p.sending = false
			close(p.idle)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// send delivers one event, redialing until it is accepted or publishGiveUp
// has passed.
func (p *publisher) send(e envelope) {
	req := tw.Marshal(&tw.ForwardRequest{Envelope: &tw.Envelope{
		Timestamp: e.at,
		Namespace: p.namespace,
		Topic:     e.topic,
		Event:     tw.MarshalAny(e.event),
	}})
	backoff := 50 * time.Millisecond
	for {
		err := p.forward(req)
		if err == nil {
			return
		}
		var st *ttrpcwire.Status
		if errors.As(err, &st) && st.Code != ttrpcwire.Unavailable && st.Code != ttrpcwire.Unknown {
			// containerd answered and refused the event: retrying will not help.
			logf("event %s rejected: %v", e.topic, err)
			return
		}
		if time.Since(e.at) > publishGiveUp {
			logf("dropping event %s after %s: %v", e.topic, publishGiveUp, err)
			return
		}
		time.Sleep(backoff)
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

func (p *publisher) forward(req []byte) error {
	if p.client == nil {
		c, err := ttrpcwire.Dial(p.address, 5*time.Second)
		if err != nil {
			return err
		}
		p.client = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.client.Call(ctx, tw.EventsService, tw.ForwardMethod, req)
	if err != nil {
		// Any failure may mean containerd went away: start over with a
		// fresh connection.
		p.client.Close()
		p.client = nil
	}
	return err
}
