package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/errdefs"

	eventbus "github.com/berthproject/berth/engine/events"
	"github.com/berthproject/berth/pkg/api"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// fakeEngine stands in for the engine behind the API's interfaces: these
// tests check the mapping of calls, data and errors across gRPC, not the
// engine (tested against containerd in its own packages).
type fakeEngine struct {
	// The verbs the fake does not answer (calling one fails the call).
	api.Containers
	api.System

	mu sync.Mutex
	// errs: an id (container, exec or image ref) whose calls fail with this error.
	errs map[string]error

	created   containertypes.Config
	inspect   *containertypes.Container
	list      []containertypes.Summary
	listOpts  containertypes.ListOptions
	stopOpts  containertypes.StopOptions
	killSig   string
	renamed   [2]string
	resized   containertypes.WindowSize
	logOpts   containertypes.LogOptions
	logs      []containertypes.LogEntry
	execCfg   containertypes.ExecConfig
	execInsp  *containertypes.ExecInspect
	top       *containertypes.TopResult
	waitCond  containertypes.WaitCondition
	waiting   bool                           // a Wait is registered
	exitCh    chan containertypes.ExitStatus // Wait's result channel
	attach    func(containertypes.AttachOptions) error
	execStart func(containertypes.Streams) (int, error)
	panicOn   string

	image      *imagetypes.Image
	images     []imagetypes.Summary
	imgListOpt imagetypes.ListOptions
	importOpts imagetypes.ImportOptions
	imported   []byte
	loaded     []byte
	saveData   []byte
	savedRefs  []string
	tagged     [2]string
	removeResp []imagetypes.DeleteResponse
	removeErr  error

	bus        *eventbus.Bus
	subscribed events.Filter
	info       *system.Info
	version    *system.Version
}

func newFake() *fakeEngine {
	return &fakeEngine{errs: map[string]error{}, bus: eventbus.NewBus(), exitCh: make(chan containertypes.ExitStatus, 1)}
}

func (f *fakeEngine) fail(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == f.panicOn && id != "" {
		panic("boom: " + id)
	}
	return f.errs[id]
}

func (f *fakeEngine) Create(ctx context.Context, cfg containertypes.Config) (string, []string, error) {
	if err := f.fail(cfg.Name); err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = cfg
	return "c0ffee", []string{"a warning"}, nil
}

func (f *fakeEngine) Start(ctx context.Context, id string) error { return f.fail(id) }

func (f *fakeEngine) Stop(ctx context.Context, id string, opts containertypes.StopOptions) error {
	f.mu.Lock()
	f.stopOpts = opts
	f.mu.Unlock()
	return f.fail(id)
}

func (f *fakeEngine) Restart(ctx context.Context, id string, opts containertypes.StopOptions) error {
	return f.Stop(ctx, id, opts)
}

func (f *fakeEngine) Kill(ctx context.Context, id, signal string) error {
	f.mu.Lock()
	f.killSig = signal
	f.mu.Unlock()
	return f.fail(id)
}

func (f *fakeEngine) Pause(ctx context.Context, id string) error   { return f.fail(id) }
func (f *fakeEngine) Unpause(ctx context.Context, id string) error { return f.fail(id) }

func (f *fakeEngine) Remove(ctx context.Context, id string, opts containertypes.RemoveOptions) error {
	return f.fail(id)
}

func (f *fakeEngine) List(ctx context.Context, opts containertypes.ListOptions) ([]containertypes.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listOpts = opts
	return f.list, nil
}

func (f *fakeEngine) Inspect(ctx context.Context, id string) (*containertypes.Container, error) {
	if err := f.fail(id); err != nil {
		return nil, err
	}
	return f.inspect, nil
}

func (f *fakeEngine) Rename(ctx context.Context, id, newName string) error {
	f.mu.Lock()
	f.renamed = [2]string{id, newName}
	f.mu.Unlock()
	return f.fail(id)
}

func (f *fakeEngine) Wait(ctx context.Context, id string, cond containertypes.WaitCondition) (<-chan containertypes.ExitStatus, error) {
	if err := f.fail(id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waitCond = cond
	f.waiting = true
	return f.exitCh, nil
}

func (f *fakeEngine) Logs(ctx context.Context, id string, opts containertypes.LogOptions, fn func(containertypes.LogEntry) error) error {
	if err := f.fail(id); err != nil {
		return err
	}
	f.mu.Lock()
	f.logOpts = opts
	entries := f.logs
	f.mu.Unlock()
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeEngine) Attach(ctx context.Context, id string, opts containertypes.AttachOptions) error {
	if err := f.fail(id); err != nil {
		return err
	}
	return f.attach(opts)
}

func (f *fakeEngine) Resize(ctx context.Context, id string, size containertypes.WindowSize) error {
	f.mu.Lock()
	f.resized = size
	f.mu.Unlock()
	return f.fail(id)
}

func (f *fakeEngine) ExecCreate(ctx context.Context, id string, cfg containertypes.ExecConfig) (string, error) {
	if err := f.fail(id); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execCfg = cfg
	return "e1", nil
}

func (f *fakeEngine) ExecStart(ctx context.Context, execID string, streams containertypes.Streams) (int, error) {
	if err := f.fail(execID); err != nil {
		return -1, err
	}
	return f.execStart(streams)
}

func (f *fakeEngine) ExecResize(ctx context.Context, execID string, size containertypes.WindowSize) error {
	return f.Resize(ctx, execID, size)
}

func (f *fakeEngine) ExecInspect(ctx context.Context, execID string) (*containertypes.ExecInspect, error) {
	if err := f.fail(execID); err != nil {
		return nil, err
	}
	return f.execInsp, nil
}

func (f *fakeEngine) Top(ctx context.Context, id, psArgs string) (*containertypes.TopResult, error) {
	if err := f.fail(id); err != nil {
		return nil, err
	}
	return f.top, nil
}

// Images.

func (f *fakeEngine) Import(ctx context.Context, r io.Reader, opts imagetypes.ImportOptions) (*imagetypes.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := f.fail(opts.Ref); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.importOpts, f.imported = opts, data
	return f.image, nil
}

func (f *fakeEngine) Load(ctx context.Context, r io.Reader, progress func(string)) ([]imagetypes.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded = data
	progress("Loaded image: busybox:latest")
	progress(fmt.Sprintf("Loaded %d bytes", len(data)))
	return []imagetypes.Image{*f.image}, nil
}

func (f *fakeEngine) Save(ctx context.Context, w io.Writer, refs []string) error {
	for _, r := range refs {
		if err := f.fail(r); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.savedRefs = refs
	data := f.saveData
	f.mu.Unlock()
	// Small writes, as a tar writer makes.
	for len(data) > 0 {
		n := min(len(data), 512)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (f *fakeEngine) Tag(ctx context.Context, source, target string) error {
	f.mu.Lock()
	f.tagged = [2]string{source, target}
	f.mu.Unlock()
	return f.fail(source)
}

func (f *fakeEngine) ImageRemove(ctx context.Context, refs []string, opts imagetypes.RemoveOptions) ([]imagetypes.DeleteResponse, error) {
	return f.removeResp, f.removeErr
}

func (f *fakeEngine) ImageList(ctx context.Context, opts imagetypes.ListOptions) ([]imagetypes.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imgListOpt = opts
	return f.images, nil
}

func (f *fakeEngine) ImageInspect(ctx context.Context, ref string) (*imagetypes.Image, error) {
	if err := f.fail(ref); err != nil {
		return nil, err
	}
	return f.image, nil
}

// System.

func (f *fakeEngine) Ping(ctx context.Context) error { return f.fail("ping") }

func (f *fakeEngine) Info(ctx context.Context) (*system.Info, error) { return f.info, nil }

func (f *fakeEngine) Version(ctx context.Context) (*system.Version, error) { return f.version, nil }

func (f *fakeEngine) Subscribe(ctx context.Context, flt events.Filter) (<-chan events.Message, error) {
	f.mu.Lock()
	f.subscribed = flt
	f.mu.Unlock()
	return f.bus.Subscribe(ctx, flt)
}

// fakeImages adapts the fake's image methods (which clash by name with the
// container ones) to api.Images.
type fakeImages struct {
	api.Images // the verbs the fake does not answer
	f          *fakeEngine
}

func (i fakeImages) Import(ctx context.Context, r io.Reader, o imagetypes.ImportOptions) (*imagetypes.Image, error) {
	return i.f.Import(ctx, r, o)
}
func (i fakeImages) Load(ctx context.Context, r io.Reader, p func(string)) ([]imagetypes.Image, error) {
	return i.f.Load(ctx, r, p)
}
func (i fakeImages) Save(ctx context.Context, w io.Writer, refs []string) error {
	return i.f.Save(ctx, w, refs)
}
func (i fakeImages) Tag(ctx context.Context, s, t string) error { return i.f.Tag(ctx, s, t) }
func (i fakeImages) Remove(ctx context.Context, refs []string, o imagetypes.RemoveOptions) ([]imagetypes.DeleteResponse, error) {
	return i.f.ImageRemove(ctx, refs, o)
}
func (i fakeImages) List(ctx context.Context, o imagetypes.ListOptions) ([]imagetypes.Summary, error) {
	return i.f.ImageList(ctx, o)
}
func (i fakeImages) Inspect(ctx context.Context, ref string) (*imagetypes.Image, error) {
	return i.f.ImageInspect(ctx, ref)
}

// Engine-style errors, as engine/container and engine/image make them.
var (
	errNoSuchContainer = fmt.Errorf("No such container: ghost: %w", errdefs.ErrNotFound)
	errNameInUse       = errdefs.ErrConflict.WithMessage(`Conflict. The container name "/web" is already in use`)
	errBadSignal       = fmt.Errorf("invalid signal %q: %w", "SIGFOO", errdefs.ErrInvalidArgument)
	errNotRunning      = fmt.Errorf("container paused is not running: %w", errdefs.ErrFailedPrecondition)
	errNotFoundExec    = &containertypes.StartError{ExitCode: 127, Err: fmt.Errorf(`exec: "nosuchcmd": executable file not found in $PATH: %w`, errdefs.ErrInvalidArgument)}
	errPlain           = errors.New("something odd happened")
)

// The verbs the fakes do not serve answer as an engine without them would.

func (i fakeImages) Pull(context.Context, string, imagetypes.PullOptions) (*imagetypes.Image, error) {
	return nil, errdefs.ErrNotImplemented
}

func (i fakeImages) Push(context.Context, string, imagetypes.PushOptions) (*imagetypes.PushResult, error) {
	return nil, errdefs.ErrNotImplemented
}

func (i fakeImages) Login(context.Context, imagetypes.AuthConfig) (string, error) {
	return "", errdefs.ErrNotImplemented
}

func (i fakeImages) History(context.Context, string) ([]imagetypes.HistoryEntry, error) {
	return nil, errdefs.ErrNotImplemented
}

func (i fakeImages) Prune(context.Context, imagetypes.PruneOptions) (*imagetypes.PruneReport, error) {
	return nil, errdefs.ErrNotImplemented
}

func (f *fakeEngine) DiskUsage(context.Context) (*system.DiskUsage, error) {
	return nil, errdefs.ErrNotImplemented
}

func (f *fakeEngine) Commit(ctx context.Context, id string, o containertypes.CommitOptions) (string, error) {
	if err := f.fail(id); err != nil {
		return "", err
	}
	return "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", nil
}

func (f *fakeEngine) Changes(ctx context.Context, id string) ([]containertypes.Change, error) {
	if err := f.fail(id); err != nil {
		return nil, err
	}
	return []containertypes.Change{{Kind: containertypes.ChangeAdd, Path: "/new"}}, nil
}

func (f *fakeEngine) Prune(ctx context.Context, o containertypes.PruneOptions) (*containertypes.PruneReport, error) {
	return &containertypes.PruneReport{ContainersDeleted: []string{"c1"}, SpaceReclaimed: 1}, nil
}

func (f *fakeEngine) Export(ctx context.Context, id string, w io.Writer) error {
	if err := f.fail(id); err != nil {
		return err
	}
	_, err := w.Write([]byte("tar"))
	return err
}
