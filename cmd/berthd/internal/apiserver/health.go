package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Health serves the standard gRPC health service (grpc.health.v1): SERVING
// while every dependency added with WatchDependency is up, NOT_SERVING
// while one is down or after Shutdown. The overall service "" and every
// service named in NewHealth report the same status.
//
// It is berth's own implementation rather than grpc-go's health.Server for
// two reasons: a Watch call receives every transition (grpc-go's keeps only
// the latest pending one, so a short NOT_SERVING could go unseen), and
// Shutdown ends Watch calls, so an open Watch does not hold up berthd's
// graceful stop.
type Health struct {
	healthpb.UnimplementedHealthServer

	services map[string]bool

	mu       sync.Mutex
	deps     map[string]error // dependency → why it is down (nil: up)
	shutdown bool
	watchers map[chan healthpb.HealthCheckResponse_ServingStatus]struct{}
	done     chan struct{} // closed by Shutdown
}

// NewHealth returns a health service that knows the overall service ""
// and services (e.g. "berth.v1.ContainersService"). With no dependency it
// reports SERVING.
func NewHealth(services ...string) *Health {
	h := &Health{
		services: map[string]bool{"": true},
		deps:     map[string]error{},
		watchers: map[chan healthpb.HealthCheckResponse_ServingStatus]struct{}{},
		done:     make(chan struct{}),
	}
	for _, s := range services {
		h.services[s] = true
	}
	return h
}

// Register serves h on s as grpc.health.v1.Health.
func (h *Health) Register(s grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(s, h)
}

// Status is the current status of every service.
func (h *Health) Status() healthpb.HealthCheckResponse_ServingStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statusLocked()
}

func (h *Health) statusLocked() healthpb.HealthCheckResponse_ServingStatus {
	if h.shutdown {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, err := range h.deps {
		if err != nil {
			return healthpb.HealthCheckResponse_NOT_SERVING
		}
	}
	return healthpb.HealthCheckResponse_SERVING
}

// Down lists the dependencies that are down, with the reason, sorted.
func (h *Health) Down() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var down []string
	for dep, err := range h.deps {
		if err != nil {
			down = append(down, dep+": "+err.Error())
		}
	}
	sort.Strings(down)
	return down
}

// Set records that dependency dep is up (err nil) or down (err says why).
func (h *Health) Set(dep string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	before := h.statusLocked()
	h.deps[dep] = err
	h.notifyLocked(before)
}

// WaitServing waits until the status is SERVING (true) or until timeout or
// ctx ends (false): a daemon calls it before it opens its socket, so a
// client's first Check finds the dependencies checked.
func (h *Health) WaitServing(ctx context.Context, timeout time.Duration) bool {
	w := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	st := h.statusLocked()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for st != healthpb.HealthCheckResponse_SERVING {
		select {
		case st = <-w:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Shutdown sets every service NOT_SERVING for good and ends the Watch
// calls (after they received NOT_SERVING).
func (h *Health) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return
	}
	before := h.statusLocked()
	h.shutdown = true
	h.notifyLocked(before)
	close(h.done)
}

func (h *Health) notifyLocked(before healthpb.HealthCheckResponse_ServingStatus) {
	now := h.statusLocked()
	if now == before {
		return
	}
	for w := range h.watchers {
		select {
		case w <- now:
		default: // a watcher 16 transitions behind gets the latest only
			select {
			case <-w:
			default:
			}
			w <- now
		}
	}
}

// Check answers with the current status; an unknown service is NOT_FOUND
// (the protocol's rule).
func (h *Health) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.services[req.GetService()] {
		return nil, status.Errorf(codes.NotFound, "unknown service %q: berthd's services are berth.v1.*, or \"\" for berthd as a whole", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: h.Status()}, nil
}

// List answers with the status of every service.
func (h *Health) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := h.Status()
	resp := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for s := range h.services {
		resp.Statuses[s] = &healthpb.HealthCheckResponse{Status: st}
	}
	return resp, nil
}

// Watch sends the status at once, then every change, until the client
// cancels or Shutdown. An unknown service gets SERVICE_UNKNOWN (the
// protocol's rule: it may be registered later).
func (h *Health) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if !h.services[req.GetService()] {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN}); err != nil {
			return err
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	w := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	first := h.statusLocked()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
	}()
	if err := stream.Send(&healthpb.HealthCheckResponse{Status: first}); err != nil {
		return err
	}
	for {
		select {
		case st := <-w:
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
		case <-h.done:
			// Anything still queued (the last is NOT_SERVING), then the end.
			for {
				select {
				case st := <-w:
					if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// WatchDependency keeps dependency dep's state from the grpc.health.v1
// service on the unix socket path (containerd and berth-snapshotter serve
// it) until ctx ends: down from the moment its Watch stream breaks or
// reports anything but SERVING, and up again once it reports SERVING and
// ready (if not nil; e.g. the engine's own ping) succeeds. The dependency
// is down until its first answer; the watch goes on in the background.
func (h *Health) WatchDependency(ctx context.Context, dep, path string, ready func(context.Context) error) {
	h.Set(dep, errors.New("not checked yet"))
	go h.watchDependency(ctx, dep, path, ready)
}

func (h *Health) watchDependency(ctx context.Context, dep, path string, ready func(context.Context) error) {
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Back on SERVING soon after a restart, not after grpc's default
		// back-off of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		h.Set(dep, err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	for ctx.Err() == nil {
		err := h.watchOnce(ctx, client, dep, ready)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.Unimplemented {
			// A dependency without the health service (a containerd built
			// without it, a berth-snapshotter of an older berth adopted
			// across an upgrade): poll it instead.
			log.G(ctx).WithField("dependency", dep).Info("API health: no health service; polling it")
			h.poll(ctx, dep, path, ready)
			return
		}
		h.Set(dep, fmt.Errorf("%s at %s: %w", dep, path, err))
		log.G(ctx).WithField("dependency", dep).WithError(err).Warn("API health: dependency down")
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WatchTTRPC keeps dependency dep's state from a ttrpc connection to the
// unix socket path (berth-snapshotter serves ttrpc, without a health
// service) until ctx ends: up once a connection is made and ready (a call
// the dependency answers) succeeds on it, down from the moment that
// connection breaks, when berthd's supervisor restarts the process, and
// up again once a new connection is ready. The dependency is down until
// its first answer; the watch goes on in the background.
func (h *Health) WatchTTRPC(ctx context.Context, dep, path string, ready func(context.Context, *ttrpc.Client) error) {
	h.Set(dep, errors.New("not checked yet"))
	go h.watchTTRPC(ctx, dep, path, ready)
}

func (h *Health) watchTTRPC(ctx context.Context, dep, path string, ready func(context.Context, *ttrpc.Client) error) {
	// Back on SERVING soon after a restart: the same back-off as the gRPC
	// watch's.
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		wasUp, err := h.watchTTRPCOnce(ctx, dep, path, ready)
		if ctx.Err() != nil {
			return
		}
		if wasUp {
			delay = 50 * time.Millisecond
		} else {
			delay = min(delay*8/5, time.Second)
		}
		h.Set(dep, fmt.Errorf("%s at %s: %w", dep, path, err))
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// watchTTRPCOnce connects to dep, marks it up once ready answers and
// returns when the connection breaks or could not be made ready; wasUp
// says whether dep was up in between.
func (h *Health) watchTTRPCOnce(ctx context.Context, dep, path string, ready func(context.Context, *ttrpc.Client) error) (wasUp bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		return false, err
	}
	client := ttrpc.NewClient(conn)
	defer func() { _ = client.Close() }()
	if err := ready(dctx, client); err != nil {
		return false, err
	}
	h.Set(dep, nil)
	if err := client.UserOnCloseWait(ctx); err != nil {
		return true, err
	}
	log.G(ctx).WithField("dependency", dep).Warn("API health: dependency down")
	return true, errors.New("connection closed")
}

// pollInterval is how often a dependency without a health service is
// checked.
const pollInterval = time.Second

// poll checks dep every pollInterval until ctx ends: with ready when set,
// else by connecting to its socket.
func (h *Health) poll(ctx context.Context, dep, path string, ready func(context.Context) error) {
	if ready == nil {
		ready = func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return err
			}
			return c.Close()
		}
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("%s at %s: %w", dep, path, err)
		}
		h.Set(dep, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollInterval):
		}
	}
}

// watchOnce follows one Watch call of dep's health service.
func (h *Health) watchOnce(ctx context.Context, client healthpb.HealthClient, dep string, ready func(context.Context) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Watch(wctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			h.Set(dep, fmt.Errorf("%s reports %s", dep, resp.GetStatus()))
			continue
		}
		if ready != nil {
			if err := retryReady(wctx, ready); err != nil {
				return err
			}
		}
		h.Set(dep, nil)
	}
}

// retryReady calls ready until it succeeds or ctx ends.
func retryReady(ctx context.Context, ready func(context.Context) error) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(rctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
