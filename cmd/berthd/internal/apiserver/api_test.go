package apiserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/pkg/client"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

var daemonInfo = apiserver.DaemonInfo{Version: "9.9.9", GitCommit: "abc123"}

// serve starts the API over f on a real unix socket and returns a client.
func serve(t *testing.T, b apiserver.Backend) *client.Client {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "berth.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	apiserver.RegisterServices(s, b, daemonInfo)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	c, err := client.New(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func serveFake(t *testing.T) (*fakeEngine, *client.Client) {
	f := newFake()
	return f, serve(t, apiserver.Backend{Containers: f, Images: fakeImages{f: f}, Events: f, System: f})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fill sets every exported field reachable from v to a distinct non-zero
// value, so a field the API forgets to carry shows up as a difference.
func fill(t testing.TB, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			fill(t, k, n)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(*n), int64(*n)).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), n)
			}
		}
	default:
		t.Fatalf("fill: cannot fill a %s (%s): teach fill, and the API, about it", v.Kind(), v.Type())
	}
}

func filled[T any](t testing.TB) T {
	var v T
	n := 0
	fill(t, reflect.ValueOf(&v).Elem(), &n)
	return v
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s did not survive the API:\n got  %+v\n want %+v", what, got, want)
	}
}

func TestContainerTypesRoundTrip(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)

	cfg := filled[containertypes.Config](t)
	if _, _, err := c.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	same(t, "container.Config (Create)", f.created, cfg)

	ctr := filled[containertypes.Container](t)
	f.inspect = &ctr
	got, err := c.Inspect(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "container.Container (Inspect)", *got, ctr)

	f.list = []containertypes.Summary{filled[containertypes.Summary](t), filled[containertypes.Summary](t)}
	lo := filled[containertypes.ListOptions](t)
	list, err := c.List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "[]container.Summary (List)", list, f.list)
	same(t, "container.ListOptions (List)", f.listOpts, lo)

	so := filled[containertypes.StopOptions](t)
	if err := c.Stop(ctx, "x", so); err != nil {
		t.Fatal(err)
	}
	same(t, "container.StopOptions (Stop)", f.stopOpts, so)
	so = filled[containertypes.StopOptions](t)
	if err := c.Restart(ctx, "x", so); err != nil {
		t.Fatal(err)
	}
	same(t, "container.StopOptions (Restart)", f.stopOpts, so)
	if err := c.Stop(ctx, "x", containertypes.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	same(t, "empty container.StopOptions (Stop)", f.stopOpts, containertypes.StopOptions{})

	ec := filled[containertypes.ExecConfig](t)
	if _, err := c.ExecCreate(ctx, "x", ec); err != nil {
		t.Fatal(err)
	}
	same(t, "container.ExecConfig (ExecCreate)", f.execCfg, ec)

	ei := filled[containertypes.ExecInspect](t)
	f.execInsp = &ei
	gotEI, err := c.ExecInspect(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "container.ExecInspect", *gotEI, ei)

	top := filled[containertypes.TopResult](t)
	f.top = &top
	gotTop, err := c.Top(ctx, "x", "aux")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "container.TopResult", *gotTop, top)

	ws := filled[containertypes.WindowSize](t)
	if err := c.Resize(ctx, "x", ws); err != nil {
		t.Fatal(err)
	}
	same(t, "container.WindowSize (Resize)", f.resized, ws)

	if err := c.Kill(ctx, "x", "SIGHUP"); err != nil || f.killSig != "SIGHUP" {
		t.Errorf("Kill: err %v, engine got signal %q", err, f.killSig)
	}
	if err := c.Rename(ctx, "old", "new"); err != nil || f.renamed != [2]string{"old", "new"} {
		t.Errorf("Rename: err %v, engine got %q", err, f.renamed)
	}
}

func TestLogs(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	f.logs = []containertypes.LogEntry{filled[containertypes.LogEntry](t), filled[containertypes.LogEntry](t), filled[containertypes.LogEntry](t)}

	opts := filled[containertypes.LogOptions](t)
	var got []containertypes.LogEntry
	if err := c.Logs(ctx, "x", opts, func(e containertypes.LogEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	same(t, "[]container.LogEntry (Logs)", got, f.logs)
	same(t, "container.LogOptions (Logs)", f.logOpts, opts)

	// Many entries (batched on the wire) arrive complete and in order.
	f.logs = nil
	for i := range 20000 {
		f.logs = append(f.logs, containertypes.LogEntry{Stream: "stdout", Time: time.Unix(int64(i), 0).UTC(), Line: fmt.Appendf(nil, "line %d\n", i)})
	}
	got = nil
	if err := c.Logs(ctx, "x", opts, func(e containertypes.LogEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	same(t, "20000 log entries", got, f.logs)

	// Tail: all (-1) and none (0) are different requests.
	for _, tail := range []int{-1, 0} {
		if err := c.Logs(ctx, "x", containertypes.LogOptions{Tail: tail}, func(containertypes.LogEntry) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if f.logOpts.Tail != tail {
			t.Errorf("Logs with Tail %d: engine got Tail %d", tail, f.logOpts.Tail)
		}
	}

	// An error from fn ends the call and is returned as is.
	stop := errors.New("enough")
	n := 0
	err := c.Logs(ctx, "x", opts, func(containertypes.LogEntry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Logs with a failing fn: err %v after %d entries, want %v after 1", err, n, stop)
	}
}

func TestErrorsKeepClassAndMessage(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	f.errs = map[string]error{
		"ghost":     errNoSuchContainer,
		"web":       errNameInUse,
		"badsig":    errBadSignal,
		"paused":    errNotRunning,
		"nosuchcmd": errNotFoundExec,
		"odd":       errPlain,
	}
	classes := []struct {
		id    string
		class error
	}{
		{"ghost", errdefs.ErrNotFound},
		{"web", errdefs.ErrConflict},
		{"badsig", errdefs.ErrInvalidArgument},
		{"paused", errdefs.ErrFailedPrecondition},
		{"nosuchcmd", errdefs.ErrInvalidArgument},
		{"odd", errdefs.ErrUnknown},
	}
	calls := map[string]func(id string) error{
		"Start": func(id string) error { return c.Start(ctx, id) },
		"Create": func(id string) error {
			_, _, err := c.Create(ctx, containertypes.Config{Name: id, Image: "busybox"})
			return err
		},
		"Inspect": func(id string) error { _, err := c.Inspect(ctx, id); return err },
		"Wait": func(id string) error {
			_, err := c.Wait(ctx, id, containertypes.WaitNotRunning)
			return err
		},
		"Logs": func(id string) error {
			return c.Logs(ctx, id, containertypes.LogOptions{}, func(containertypes.LogEntry) error { return nil })
		},
		"Attach": func(id string) error {
			return c.Attach(ctx, id, containertypes.AttachOptions{Streams: containertypes.Streams{Stdout: io.Discard}})
		},
		"ExecStart": func(id string) error {
			_, err := c.ExecStart(ctx, id, containertypes.Streams{Stdout: io.Discard})
			return err
		},
		"ImageInspect": func(id string) error { _, err := c.Images().Inspect(ctx, id); return err },
		"ImageSave":    func(id string) error { return c.Images().Save(ctx, io.Discard, []string{id}) },
		"ImageImport": func(id string) error {
			_, err := c.Images().Import(ctx, strings.NewReader("tar"), imagetypes.ImportOptions{Ref: id})
			return err
		},
	}
	for name, call := range calls {
		for _, tc := range classes {
			err := call(tc.id)
			want := f.errs[tc.id]
			if !errors.Is(err, tc.class) {
				t.Errorf("%s(%s): got %v (%T), want class %v", name, tc.id, err, err, tc.class)
			}
			if err != nil && err.Error() != want.Error() {
				t.Errorf("%s(%s): message %q, want %q", name, tc.id, err.Error(), want.Error())
			}
		}
	}
	// Conflict is its own class, not "failed precondition" (both share a gRPC code).
	if err := c.Start(ctx, "web"); errdefs.IsFailedPrecondition(err) {
		t.Errorf("conflict came back as failed precondition: %v", err)
	}
	if err := c.Start(ctx, "paused"); errdefs.IsConflict(err) {
		t.Errorf("failed precondition came back as conflict: %v", err)
	}

	// A StartError keeps its exit code.
	err := c.Start(ctx, "nosuchcmd")
	var se *containertypes.StartError
	if !errors.As(err, &se) || se.ExitCode != 127 {
		t.Fatalf("Start(nosuchcmd): got %v (%T), want *container.StartError with exit code 127", err, err)
	}
	if err := c.Start(ctx, "ghost"); errors.As(err, &se) {
		t.Errorf("Start(ghost): a plain NotFound came back as a StartError: %v", err)
	}
}

func TestPanicIsInternalError(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	f.panicOn = "bomb"
	if err := c.Start(ctx, "bomb"); !errdefs.IsInternal(err) {
		t.Errorf("unary panic: got %v, want ErrInternal", err)
	}
	if _, err := c.Wait(ctx, "bomb", containertypes.WaitNextExit); !errdefs.IsInternal(err) {
		t.Errorf("stream panic: got %v, want ErrInternal", err)
	}
	// The server is still there.
	if err := c.Start(ctx, "fine"); err != nil {
		t.Errorf("after a panic: %v", err)
	}
}

func TestUnservedServiceIsNotImplemented(t *testing.T) {
	f := newFake()
	c := serve(t, apiserver.Backend{Containers: f})
	ctx := testCtx(t)
	if _, err := c.Images().List(ctx, imagetypes.ListOptions{}); !errdefs.IsNotImplemented(err) {
		t.Errorf("ImageList without an image service: got %v, want ErrNotImplemented", err)
	}
	if _, err := c.Ping(ctx); !errdefs.IsNotImplemented(err) {
		t.Errorf("Ping without a system service: got %v, want ErrNotImplemented", err)
	}
}

func TestWaitAcceptedThenExit(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	for _, cond := range []containertypes.WaitCondition{containertypes.WaitNotRunning, containertypes.WaitNextExit, containertypes.WaitRemoved} {
		f.mu.Lock()
		f.waiting = false
		f.mu.Unlock()
		ch, err := c.Wait(ctx, "x", cond)
		if err != nil {
			t.Fatal(err)
		}
		// Wait returned: the engine's wait must be registered already.
		f.mu.Lock()
		registered, gotCond := f.waiting, f.waitCond
		f.mu.Unlock()
		if !registered {
			t.Fatalf("Wait(%s) returned before the engine registered the wait", cond)
		}
		if gotCond != cond {
			t.Errorf("Wait(%s): engine got condition %q", cond, gotCond)
		}
		exit := filled[containertypes.ExitStatus](t)
		f.exitCh <- exit
		got, ok := <-ch
		if !ok {
			t.Fatalf("Wait(%s): channel closed without a status", cond)
		}
		same(t, "container.ExitStatus (Wait)", got, exit)
		if _, ok := <-ch; ok {
			t.Errorf("Wait(%s): more than one value", cond)
		}
	}

	// A wait that breaks after it was accepted still yields one value.
	wctx, cancel := context.WithCancel(ctx)
	ch, err := c.Wait(wctx, "x", containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	got := <-ch
	if got.ExitCode != -1 || got.Error == "" {
		t.Errorf("cancelled Wait: got %+v, want ExitCode -1 and an error", got)
	}
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a stream.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// echo is a fake process: it reports the first terminal size it gets, then
// copies stdin to stdout upper-cased, and writes a line on stderr.
func echo(s containertypes.Streams) error {
	size, ok := <-s.Resize
	if !ok {
		return errors.New("resize channel closed before any size")
	}
	fmt.Fprintf(s.Stdout, "size %dx%d\n", size.Width, size.Height)
	data, err := io.ReadAll(s.Stdin)
	if err != nil {
		return err
	}
	s.Stdout.Write(bytes.ToUpper(data))
	fmt.Fprintf(s.Stderr, "read %d bytes\n", len(data))
	return nil
}

func TestAttachCarriesStdio(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	var gotOpts containertypes.AttachOptions
	f.attach = func(o containertypes.AttachOptions) error {
		gotOpts = o
		close(o.Ready)
		return echo(o.Streams)
	}
	// Larger than one chunk each way.
	input := bytes.Repeat([]byte("hello, berth\n"), 200_000)
	var stdout, stderr lockedBuffer
	sizes := make(chan containertypes.WindowSize, 1)
	sizes <- containertypes.WindowSize{Width: 132, Height: 43}
	ready := make(chan struct{})
	err := c.Attach(ctx, "x", containertypes.AttachOptions{
		Streams: containertypes.Streams{Stdin: bytes.NewReader(input), Stdout: &stdout, Stderr: &stderr, Resize: sizes},
		Logs:    true,
		Ready:   ready,
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	default:
		t.Error("Ready was not closed")
	}
	want := "size 132x43\n" + string(bytes.ToUpper(input))
	if stdout.String() != want {
		t.Errorf("stdout: got %d bytes, want %d (%q...)", len(stdout.String()), len(want), stdout.String()[:min(40, len(stdout.String()))])
	}
	if got := stderr.String(); got != fmt.Sprintf("read %d bytes\n", len(input)) {
		t.Errorf("stderr: %q", got)
	}
	if !gotOpts.Logs || gotOpts.Stdin == nil || gotOpts.Stdout == nil || gotOpts.Stderr == nil {
		t.Errorf("engine got options %+v", gotOpts)
	}

	// Streams the client does not attach are not attached in the engine.
	f.attach = func(o containertypes.AttachOptions) error {
		gotOpts = o
		close(o.Ready)
		return nil
	}
	if err := c.Attach(ctx, "x", containertypes.AttachOptions{Streams: containertypes.Streams{Stdout: &stdout}}); err != nil {
		t.Fatal(err)
	}
	if gotOpts.Stdin != nil || gotOpts.Stderr != nil || gotOpts.Stdout == nil || gotOpts.Logs {
		t.Errorf("stdout-only attach: engine got %+v", gotOpts)
	}
}

func TestAttachReadyBeforeOutput(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	// The engine signals readiness, then output flows only once the test
	// has seen Ready: output produced after Ready must reach the client.
	release := make(chan struct{})
	f.attach = func(o containertypes.AttachOptions) error {
		close(o.Ready)
		<-release
		_, err := io.WriteString(o.Stdout, "after ready\n")
		return err
	}
	ready := make(chan struct{})
	var stdout lockedBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- c.Attach(ctx, "x", containertypes.AttachOptions{Streams: containertypes.Streams{Stdout: &stdout}, Ready: ready})
	}()
	<-ready
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "after ready\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestExecStart(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	f.execStart = func(s containertypes.Streams) (int, error) {
		if err := echo(s); err != nil {
			return -1, err
		}
		return 42, nil
	}
	sizes := make(chan containertypes.WindowSize, 1)
	sizes <- containertypes.WindowSize{Width: 80, Height: 24}
	var stdout, stderr lockedBuffer
	code, err := c.ExecStart(ctx, "e1", containertypes.Streams{Stdin: strings.NewReader("ls -l\n"), Stdout: &stdout, Stderr: &stderr, Resize: sizes})
	if err != nil {
		t.Fatal(err)
	}
	if code != 42 {
		t.Errorf("exit code %d, want 42", code)
	}
	if stdout.String() != "size 80x24\nLS -L\n" || stderr.String() != "read 6 bytes\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}

	// Without stdin the engine sees no stdin, and a failing exec is an error.
	f.execStart = func(s containertypes.Streams) (int, error) {
		if s.Stdin != nil {
			return -1, errors.New("stdin attached")
		}
		return -1, &containertypes.StartError{ExitCode: 126, Err: fmt.Errorf("permission denied: %w", errdefs.ErrPermissionDenied)}
	}
	_, err = c.ExecStart(ctx, "e1", containertypes.Streams{Stdout: &stdout})
	var se *containertypes.StartError
	if !errors.As(err, &se) || se.ExitCode != 126 || !errdefs.IsPermissionDenied(err) {
		t.Errorf("failing exec: got %v (%T), want StartError 126, permission denied", err, err)
	}
}

func TestEvents(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)

	flt := filled[events.Filter](t)
	flt.Until = time.Time{} // live stream
	flt.Since = time.Time{}
	flt.Filters = map[string][]string{"type": {events.TypeContainer}, "event": {"start", "die"}}
	msgs, errs := c.Events(ctx, flt)
	same(t, "events.Filter (Events)", f.subscribed, flt)

	// Subscribed when Events returned: nothing published now is missed.
	want := filled[events.Message](t)
	want.Type, want.Action = events.TypeContainer, "die"
	f.bus.Publish(events.Message{Type: events.TypeImage, Action: "tag", Time: want.Time.Add(-time.Second)})
	f.bus.Publish(events.Message{Type: events.TypeContainer, Action: "create", Time: want.Time.Add(-time.Second)})
	f.bus.Publish(want)
	select {
	case got := <-msgs:
		same(t, "events.Message (Events)", got, want)
	case err := <-errs:
		t.Fatalf("events: %v", err)
	}

	// Since and Until reach the engine; a stream with an Until in the past
	// ends by itself without error.
	bounded := events.Filter{Since: time.Unix(1, 0).UTC(), Until: time.Unix(2, 0).UTC()}
	msgs, errs = c.Events(ctx, bounded)
	same(t, "bounded events.Filter", f.subscribed, bounded)
	for range msgs {
	}
	if err := <-errs; err != nil {
		t.Errorf("bounded stream ended with %v", err)
	}
}

func TestSystem(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	api, err := c.Ping(ctx)
	if err != nil || api != berthv1.APIVersion {
		t.Errorf("Ping: %q, %v", api, err)
	}
	f.errs["ping"] = fmt.Errorf("containerd is not running: %w", errdefs.ErrUnavailable)
	if _, err := c.Ping(ctx); !errdefs.IsUnavailable(err) {
		t.Errorf("Ping with containerd down: %v", err)
	}

	info := filled[system.Info](t)
	f.info = &info
	gotInfo, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info.ServerVersion = daemonInfo.Version // berthd's version wins
	same(t, "engine.Info", *gotInfo, info)

	v := filled[system.Version](t)
	f.version = &v
	gotV, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.Version, v.GitCommit, v.APIVersion = daemonInfo.Version, daemonInfo.GitCommit, berthv1.APIVersion
	same(t, "engine.Version", *gotV, v)
}

func TestImages(t *testing.T) {
	f, c := serveFake(t)
	ctx := testCtx(t)
	img := filled[imagetypes.Image](t)
	f.image = &img

	got, err := c.Images().Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "image.Image (Inspect)", *got, img)

	f.images = []imagetypes.Summary{filled[imagetypes.Summary](t)}
	lo := filled[imagetypes.ListOptions](t)
	list, err := c.Images().List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "[]image.Summary (List)", list, f.images)
	same(t, "image.ListOptions (List)", f.imgListOpt, lo)

	// Data larger than a chunk, in both directions, byte for byte.
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	io := filled[imagetypes.ImportOptions](t)
	imported, err := c.Images().Import(ctx, bytes.NewReader(data), io)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "image.ImportOptions (Import)", f.importOpts, io)
	same(t, "image.Image (Import)", *imported, img)
	if !bytes.Equal(f.imported, data) {
		t.Errorf("import: engine read %d bytes, want the %d sent", len(f.imported), len(data))
	}

	var lines []string
	loaded, err := c.Images().Load(ctx, bytes.NewReader(data), func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	same(t, "[]image.Image (Load)", loaded, []imagetypes.Image{img})
	same(t, "load progress", lines, []string{"Loaded image: busybox:latest", fmt.Sprintf("Loaded %d bytes", len(data))})
	if !bytes.Equal(f.loaded, data) {
		t.Errorf("load: engine read %d bytes, want the %d sent", len(f.loaded), len(data))
	}

	f.saveData = data
	var saved bytes.Buffer
	if err := c.Images().Save(ctx, &saved, []string{"busybox", "app:v1"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved.Bytes(), data) {
		t.Errorf("save: got %d bytes, want %d", saved.Len(), len(data))
	}
	same(t, "save refs", f.savedRefs, []string{"busybox", "app:v1"})

	if err := c.Images().Tag(ctx, "busybox", "mine:1"); err != nil || f.tagged != [2]string{"busybox", "mine:1"} {
		t.Errorf("Tag: %v, engine got %q", err, f.tagged)
	}

	// Remove reports what it did and every ref that failed, typed.
	f.removeResp = []imagetypes.DeleteResponse{{Untagged: "busybox:latest"}, {Deleted: "sha256:abc"}}
	f.removeErr = errors.Join(
		fmt.Errorf("No such image: nope: %w", errdefs.ErrNotFound),
		errdefs.ErrConflict.WithMessage("conflict: unable to delete abc (must be forced)"),
	)
	items, err := c.Images().Remove(ctx, []string{"busybox", "nope", "abc"}, imagetypes.RemoveOptions{Force: true})
	same(t, "[]image.DeleteResponse (Remove)", items, f.removeResp)
	if !errdefs.IsNotFound(err) || !errdefs.IsConflict(err) || err.Error() != f.removeErr.Error() {
		t.Errorf("Remove errors: got %q, want %q with both classes", err, f.removeErr)
	}
	f.removeErr = nil
	if _, err := c.Images().Remove(ctx, []string{"busybox"}, imagetypes.RemoveOptions{}); err != nil {
		t.Errorf("Remove without errors: %v", err)
	}
}

func TestNewAddress(t *testing.T) {
	ctx := testCtx(t)
	_, c := serveFake(t)
	sock := strings.TrimPrefix(c.Address(), "unix://")

	for _, addr := range []string{sock, "unix://" + sock} {
		c2, err := client.New(ctx, addr)
		if err != nil {
			t.Fatalf("New(%q): %v", addr, err)
		}
		if _, err := c2.Ping(ctx); err != nil {
			t.Errorf("New(%q): ping: %v", addr, err)
		}
		c2.Close()
	}

	t.Setenv(client.HostEnv, "unix://"+sock)
	c3, err := client.New(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if c3.Address() != "unix://"+sock {
		t.Errorf("$%s: address %q", client.HostEnv, c3.Address())
	}
	c3.Close()

	if _, err := client.New(ctx, filepath.Join(t.TempDir(), "none.sock")); !errdefs.IsUnavailable(err) {
		t.Errorf("missing socket: got %v, want ErrUnavailable", err)
	}
	if _, err := client.New(ctx, "tcp://127.0.0.1:1"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("tcp address: got %v, want ErrInvalidArgument", err)
	}
}

func TestInterceptorsConvertErrors(t *testing.T) {
	ctx := testCtx(t)
	_, err := apiserver.UnaryErrorInterceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"},
		func(context.Context, any) (any, error) { return nil, errNameInUse })
	if got := conv.ErrorFromGRPC(err); !errdefs.IsConflict(got) || got.Error() != errNameInUse.Error() {
		t.Errorf("unary interceptor: %v -> %v", err, got)
	}
	err = apiserver.StreamErrorInterceptor(nil, ctxStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: "/x/Z"},
		func(any, grpc.ServerStream) error { return errNotFoundExec })
	var se *containertypes.StartError
	if got := conv.ErrorFromGRPC(err); !errors.As(got, &se) || se.ExitCode != 127 {
		t.Errorf("stream interceptor: %v -> %v", err, got)
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
