package apiserver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/engine"
	"github.com/berthproject/berth/pkg/client"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/test/harness"
)

// TestCancelFreesServer: a client that cancels a pull, a logs -f, an
// attach, an events subscription, a wait or a stats stream, or whose
// deadline passes, frees
// everything the call held on the server side. The API runs in this
// process over a real engine (on a private stack's containerd, a namespace
// of its own), so its goroutines and file descriptors can be counted: after
// a warm-up round, rounds of cancelled calls leave both at the baseline;
// the registry sees the cancelled pull's request end.
func TestCancelFreesServer(t *testing.T) {
	s := harness.Start(t)
	s.LoadBusybox()
	ctx := testCtx(t)

	// The registry: a real one behind a proxy that holds manifest requests
	// until their client goes away, so a pull is in flight when cancelled.
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	if r := s.Berth("tag", "busybox", reg.Addr()+"/cancel/busybox:1"); r.ExitCode != 0 {
		t.Fatalf("tag: %+v", r)
	}
	if r := s.Berth("push", reg.Addr()+"/cancel/busybox:1"); r.ExitCode != 0 {
		t.Fatalf("push: %+v", r)
	}
	upstream, _ := url.Parse("http://" + reg.Addr())
	held := make(chan struct{}, 16)     // a manifest request is being held
	released := make(chan struct{}, 16) // its client went away
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			held <- struct{}{}
			<-r.Context().Done()
			released <- struct{}{}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer stall.Close()
	pullRef := strings.TrimPrefix(stall.URL, "http://") + "/cancel/busybox:1"

	// The engine and the API, in this process.
	dir, err := os.MkdirTemp("/tmp", "bcx")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e, err := engine.New(ctx,
		engine.WithContainerdAddress(s.ContainerdAddress()),
		engine.WithNamespace(s.Namespace()+"x"),
		engine.WithRoot(filepath.Join(dir, "root")),
		engine.WithState(filepath.Join(dir, "state")),
		engine.WithBinDirs(s.Build(), s.Libexec()),
		engine.WithSnapshotter("overlayfs"),
		engine.WithoutNetwork(),
		engine.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sock := filepath.Join(dir, "api.sock")
	listen(t, sock, func(srv *grpc.Server) { apiserver.Register(srv, e, daemonInfo) }, apiserver.ServerOptions()...)
	c, err := client.New(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	archive, err := os.Open(harness.BusyboxArchive(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Images().Load(ctx, archive, nil)
	archive.Close()
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := c.Create(ctx, container.Config{Image: "busybox", NetworkMode: "none", OpenStdin: true,
		Cmd: []string{"sh", "-c", "echo ready; exec sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), id, container.RemoveOptions{Force: true})
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}

	// Each call is cancelled once the server is inside it; it must return
	// context.Canceled at once.
	cancelled := func(what string, call func(ctx context.Context, inside chan<- struct{}) error) {
		t.Helper()
		cctx, cancel := context.WithCancel(ctx)
		inside := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() { done <- call(cctx, inside) }()
		select {
		case <-inside:
		case err := <-done:
			t.Fatalf("%s ended before it was cancelled: %v", what, err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
			t.Fatalf("%s after cancel: %v, want canceled", what, err)
		}
	}
	signal := func(ch chan<- struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	round := func() {
		cancelled("logs -f", func(ctx context.Context, inside chan<- struct{}) error {
			return c.Logs(ctx, id, container.LogOptions{Follow: true, Stdout: true, Tail: -1}, func(container.LogEntry) error {
				signal(inside)
				return nil
			})
		})
		cancelled("attach", func(ctx context.Context, inside chan<- struct{}) error {
			ready := make(chan struct{})
			go func() {
				select {
				case <-ready:
					signal(inside)
				case <-ctx.Done():
				}
			}()
			stdin, w := io.Pipe() // stdin open, nothing written
			defer w.Close()
			return c.Attach(ctx, id, container.AttachOptions{Streams: container.Streams{Stdin: stdin, Stdout: io.Discard, Stderr: io.Discard}, Ready: ready})
		})
		cancelled("pull", func(ctx context.Context, inside chan<- struct{}) error {
			go func() {
				select {
				case <-held:
					signal(inside)
				case <-ctx.Done():
				}
			}()
			_, err := c.Images().Pull(ctx, pullRef, image.PullOptions{})
			return err
		})
		select { // berthd's request to the registry ended too
		case <-released:
		case <-ctx.Done():
			t.Fatal("the cancelled pull's registry request is still open")
		}
		cancelled("events", func(ctx context.Context, inside chan<- struct{}) error {
			msgs, errs := c.Events(ctx, events.Filter{})
			signal(inside) // Events returns once the subscription is registered
			for range msgs {
			}
			if err := <-errs; err != nil {
				return err
			}
			return ctx.Err() // client.Events ends quietly when its ctx is cancelled

		})
		cancelled("wait", func(ctx context.Context, inside chan<- struct{}) error {
			exit, err := c.Wait(ctx, id, container.WaitNextExit) // returns once registered
			if err != nil {
				return err
			}
			signal(inside)
			<-exit
			return ctx.Err()
		})
		cancelled("stats", func(ctx context.Context, inside chan<- struct{}) error {
			return c.Stats(ctx, id, client.StatsOptions{Interval: 100 * time.Millisecond}, func(*container.Stats) error {
				signal(inside)
				return nil
			})
		})
		// A deadline ends a call as a cancel does.
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Logs(dctx, id, container.LogOptions{Follow: true, Stdout: true}, func(container.LogEntry) error { return nil })
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("logs -f past its deadline: %v", err)
		}
	}

	round() // warm-up: connections, caches and pools the first calls set up
	goroutines, fds := settle(t, ctx, -1, -1)
	t.Logf("baseline after one round: %d goroutines, %d fds", goroutines, fds)
	for range 3 {
		round()
	}
	g, f := settle(t, ctx, goroutines, fds)
	t.Logf("after three more rounds: %d goroutines, %d fds", g, f)
}

// settle waits until the goroutine and fd counts of this process are at
// most the given ones (-1: until they stop falling) and returns them. A
// count above after the deadline fails the test, with the goroutines.
func settle(t *testing.T, ctx context.Context, maxG, maxF int) (int, int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	prevG, prevF, stable := -1, -1, 0
	for {
		runtime.GC()
		g, f := runtime.NumGoroutine(), fdCount(t)
		if maxG < 0 {
			if g == prevG && f == prevF {
				stable++
			} else {
				stable = 0
			}
			if stable >= 5 {
				return g, f
			}
			prevG, prevF = g, f
		} else if g <= maxG && f <= maxF {
			return g, f
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if maxG < 0 {
				return g, f
			}
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("server resources not freed: %d goroutines (baseline %d), %d fds (baseline %d)\n%s", g, maxG, f, maxF, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
