package shim

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	apitypes "github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// publishQueueMax bounds the events kept while containerd is away.
	publishQueueMax = 1024
	// publishGiveUp is how long one event is retried before it is dropped.
	publishGiveUp = 2 * time.Minute
)

type envelope struct {
	topic string
	event any
	at    time.Time
}

// publisher forwards task events to containerd over its ttrpc socket, in
// order. When containerd is not there (restarting), events wait in a bounded
// queue and the connection is redialed with a backoff.
type publisher struct {
	address   string
	namespace string

	mu     sync.Mutex
	queue  []envelope
	wake   chan struct{}
	closed bool
	idle   chan struct{} // closed when the queue is empty (replaced when it fills)

	conn   *ttrpc.Client
	client eventsapi.TTRPCEventsService
}

func newPublisher(address, namespace string) *publisher {
	p := &publisher{
		address:   strings.TrimPrefix(address, "unix://"),
		namespace: namespace,
		wake:      make(chan struct{}, 1),
		idle:      make(chan struct{}),
	}
	close(p.idle)
	go p.run()
	return p
}

// publish queues an event; it never blocks the caller.
func (p *publisher) publish(topic string, event any) {
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
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
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

func (p *publisher) run() {
	for range p.wake {
		for {
			p.mu.Lock()
			if len(p.queue) == 0 {
				p.mu.Unlock()
				break
			}
			e := p.queue[0]
			p.mu.Unlock()
			p.send(e)
			p.mu.Lock()
			p.queue = p.queue[1:]
			if len(p.queue) == 0 {
				p.queue = nil
				close(p.idle)
			}
			p.mu.Unlock()
		}
	}
}

// send delivers one event, redialing until it is accepted or publishGiveUp
// has passed.
func (p *publisher) send(e envelope) {
	a, err := typeurl.MarshalAnyToProto(e.event)
	if err != nil {
		logf("marshal event %s: %v", e.topic, err)
		return
	}
	req := &eventsapi.ForwardRequest{Envelope: &apitypes.Envelope{
		Timestamp: timestamppb.New(e.at),
		Namespace: p.namespace,
		Topic:     e.topic,
		Event:     a,
	}}
	backoff := 50 * time.Millisecond
	for {
		err = p.forward(req)
		if err == nil {
			return
		}
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unavailable && st.Code() != codes.Unknown {
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

func (p *publisher) forward(req *eventsapi.ForwardRequest) error {
	if p.client == nil {
		conn, err := net.DialTimeout("unix", p.address, 5*time.Second)
		if err != nil {
			return err
		}
		p.conn = ttrpc.NewClient(conn)
		p.client = eventsapi.NewTTRPCEventsClient(p.conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.client.Forward(ctx, req)
	if err != nil {
		// Any failure may mean containerd went away: start over with a
		// fresh connection.
		p.conn.Close()
		p.conn, p.client = nil, nil
	}
	return err
}
