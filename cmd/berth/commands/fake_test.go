package commands

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// recorder stands in for berthd in the CLI's unit tests: it records the
// requests the commands make and answers from its fields. (The CLI against
// a real berthd is tested in test/e2e.) It embeds Client for the verbs it
// does not answer: calling one fails the test with a nil dereference.
type recorder struct {
	Client

	mu    sync.Mutex
	calls []string

	created   container.Config
	createErr error
	startErr  error
	exit      container.ExitStatus
	output    string // written by Attach
	summaries []container.Summary
	inspect   map[string]*container.Container
	logOpts   container.LogOptions
	listOpts  container.ListOptions
	stopOpts  container.StopOptions
	execCfg   container.ExecConfig
	execCode  int
	events    []events.Message
	evFilter  events.Filter
}

func (r *recorder) record(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) callList() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, " ")
}

func notFound(id string) error {
	return fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
}

func (r *recorder) Create(_ context.Context, cfg container.Config) (string, []string, error) {
	r.record("create")
	r.created = cfg
	if r.createErr != nil {
		return "", nil, r.createErr
	}
	return "0123456789abcdef0123456789abcdef", nil, nil
}
func (r *recorder) Start(_ context.Context, id string) error { r.record("start"); return r.startErr }
func (r *recorder) Stop(_ context.Context, id string, o container.StopOptions) error {
	r.record("stop " + id)
	r.mu.Lock()
	r.stopOpts = o
	r.mu.Unlock()
	if id == "missing" {
		return notFound(id)
	}
	return nil
}
func (r *recorder) Restart(context.Context, string, container.StopOptions) error { return nil }
func (r *recorder) Kill(_ context.Context, id, sig string) error {
	r.record("kill " + id + " " + sig)
	return nil
}
func (r *recorder) Pause(context.Context, string) error   { return nil }
func (r *recorder) Unpause(context.Context, string) error { return nil }
func (r *recorder) Remove(_ context.Context, id string, o container.RemoveOptions) error {
	r.record(fmt.Sprintf("rm %s force=%v", id, o.Force))
	return nil
}
func (r *recorder) List(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	r.listOpts = o
	return r.summaries, nil
}
func (r *recorder) Inspect(_ context.Context, id string) (*container.Container, error) {
	if c, ok := r.inspect[id]; ok {
		return c, nil
	}
	return nil, notFound(id)
}
func (r *recorder) Rename(context.Context, string, string) error { return nil }
func (r *recorder) Wait(_ context.Context, id string, cond container.WaitCondition) (<-chan container.ExitStatus, error) {
	r.record("wait " + string(cond))
	ch := make(chan container.ExitStatus, 1)
	ch <- r.exit
	close(ch)
	return ch, nil
}
func (r *recorder) Logs(_ context.Context, id string, o container.LogOptions, fn func(container.LogEntry) error) error {
	r.logOpts = o
	t := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := fn(container.LogEntry{Stream: "stdout", Time: t, Line: []byte("out\n")}); err != nil {
		return err
	}
	return fn(container.LogEntry{Stream: "stderr", Time: t, Line: []byte("err\n")})
}
func (r *recorder) Attach(_ context.Context, id string, o container.AttachOptions) error {
	r.record("attach")
	if o.Ready != nil {
		close(o.Ready)
	}
	_, err := o.Stdout.Write([]byte(r.output))
	return err
}
func (r *recorder) Resize(context.Context, string, container.WindowSize) error { return nil }
func (r *recorder) Top(context.Context, string, string) (*container.TopResult, error) {
	return &container.TopResult{Titles: []string{"PID", "CMD"}, Processes: [][]string{{"1", "sh"}, {"20", "sleep 100"}}}, nil
}
func (r *recorder) ExecCreate(_ context.Context, id string, cfg container.ExecConfig) (string, error) {
	r.execCfg = cfg
	return "exec1", nil
}
func (r *recorder) ExecStart(_ context.Context, id string, s container.Streams) (int, error) {
	if r.startErr != nil {
		return -1, r.startErr
	}
	return r.execCode, nil
}
func (r *recorder) ExecResize(context.Context, string, container.WindowSize) error { return nil }
func (r *recorder) ExecInspect(context.Context, string) (*container.ExecInspect, error) {
	return nil, errdefs.ErrNotImplemented
}
func (r *recorder) Version(context.Context) (*system.Version, error) {
	return &system.Version{Version: "1.2.3", APIVersion: "1"}, nil
}
func (r *recorder) Info(context.Context) (*system.Info, error) {
	return &system.Info{Containers: 3, ContainersRunning: 1}, nil
}
func (r *recorder) Events(_ context.Context, f events.Filter) (<-chan events.Message, <-chan error) {
	r.evFilter = f
	msgs := make(chan events.Message, len(r.events))
	for _, m := range r.events {
		msgs <- m
	}
	close(msgs)
	errs := make(chan error)
	close(errs)
	return msgs, errs
}
func (r *recorder) Close() error { return nil }

// Images is nil: the recorder serves no images, so `run` of a missing
// image reports it instead of pulling.
func (r *recorder) Images() api.Images { return nil }

// result of one berth invocation.
type result struct {
	code           int
	stdout, stderr string
}

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// berth runs the CLI (the tree of main.go, rebuilt here) with args against
// r. The daemon address is a real socket file so the connect check passes.
func berth(t *testing.T, r *recorder, env map[string]string, args ...string) result {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "b.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &Env{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Now:     func() time.Time { return testNow },
		Connect: func(context.Context, string) (Client, error) { return r, nil },
		Version: "test",
	}
	app := NewApp(e, allCommands(e)...)
	code := Main(context.Background(), app, append([]string{"berth", "-H", sock}, args...))
	return result{code, out.String(), errb.String()}
}

func allCommands(e *Env) []*cli.Command {
	return []*cli.Command{
		Run(e), Create(e), Start(e), Stop(e), Restart(e), Kill(e), Pause(e), Unpause(e), Remove(e),
		Ps(e), Logs(e), Exec(e), Attach(e), Wait(e), Top(e), Rename(e), Inspect(e),
		Images(e, "images"), ImageCommand(e), ImportImage(e, "import"), Load(e, "load"), Save(e, "save"),
		Tag(e, "tag"), Rmi(e, "rmi"), Version(e), Info(e), Events(e), Completion(e),
	}
}

var errNoImage = &image.NotFoundError{Ref: "nope", Err: fmt.Errorf("No such image: nope: %w", errdefs.ErrNotFound)}
