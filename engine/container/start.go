package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/containerio"
	"github.com/berthproject/berth/pkg/logfile"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Start starts a created or stopped container. Starting a running container
// does nothing, as in Docker.
func (s *Service) Start(ctx context.Context, ref string) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	if err := s.waitStartupGC(ctx); err != nil {
		return err
	}
	r.op.Lock()
	defer r.op.Unlock()
	r.cancelRestart()
	return s.startLocked(ctx, r, userStart)
}

// startLocked creates and starts the task. The caller holds r.op. by says
// who starts it: a user's start ends the user's stop (the phase and the
// stopped-by-user mark), as in Docker; the restart policy's yields to a
// user's stop that came meanwhile (see starter).
func (s *Service) startLocked(ctx context.Context, r *record, by starter) (err error) {
	c, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return err
	}
	defer func() {
		// An --rm container that cannot start is removed, as Docker does.
		if err != nil && cfg.AutoRemove {
			if rerr := s.removeLocked(context.WithoutCancel(ctx), r, containertypes.ExitStatus{ExitCode: exitCodeOf(err), Error: err.Error()}, true); rerr != nil {
				s.log.Warn("removing an --rm container that failed to start", "id", r.id, "err", rerr)
			}
		}
	}()
	if st, err := s.taskState(ctx, r.id); err == nil {
		switch st.Status {
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			// Running already: a user stop in progress no longer counts
			// (unless this start yields to it).
			return r.resumed(by)
		default:
			// A stopped task whose exit was not handled yet: clear it.
			if _, err := s.deleteTask(ctx, r.id); err != nil {
				return err
			}
		}
	}

	if err := s.joinNamespaces(ctx, &c, cfg); err != nil {
		s.unmountShm(r.id)
		s.recordStartFailure(ctx, r, err)
		return err
	}
	defer func() {
		if err != nil {
			s.unmountShm(r.id)
		}
	}()
	if err := s.startLinks(ctx, &c, cfg, r.name); err != nil {
		s.recordStartFailure(ctx, r, err)
		return err
	}
	// Image mounts and volume subpaths: found now, held until runc has
	// made the container's mounts.
	release, err := s.stageMounts(ctx, &c)
	if err != nil {
		s.recordStartFailure(ctx, r, err)
		return err
	}
	defer release()
	mounts, err := s.client.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mounting the container's filesystem: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(s.opts.State, "io"), 0o700); err != nil {
		return err
	}
	logPath := s.logPath(r.id)
	if err := logfile.Reopened(logPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ioOpts := containerio.Options{
		LogPath:      logPath,
		MaxSize:      s.opts.LogMaxSize,
		MaxFiles:     s.opts.LogMaxFiles,
		AttachSocket: s.attachSocket(r.id),
		Stdin:        cfg.OpenStdin,
		NoLog:        cfg.LogConfig.Type == containertypes.LogDriverNone,
	}
	if cfg.LogConfig.MaxSize != 0 {
		ioOpts.MaxSize = cfg.LogConfig.MaxSize
	}
	if cfg.LogConfig.MaxFiles != 0 {
		ioOpts.MaxFiles = cfg.LogConfig.MaxFiles
	}
	uri := containerio.LoggerURI(s.opts.LoggerPath, ioOpts)

	// The network exists before the process runs: no hook calls back into
	// berth. Its interfaces are configured while the task is created in its
	// namespace.
	netWait, err := s.startNetwork(ctx, r.id, r.name, cfg, s.imageConfig(ctx, c))
	defer func() {
		if err != nil {
			s.teardownNetwork(context.WithoutCancel(ctx), r.id)
		}
	}()
	if err != nil {
		s.recordStartFailure(ctx, r, err)
		return err
	}
	req := &tasks.CreateTaskRequest{
		ContainerID: r.id,
		Stdout:      uri,
		Stderr:      uri,
		Terminal:    cfg.Tty,
		Options:     typeurl.MarshalProto(c.Runtime.Options),
	}
	// An exit seen from here on is the new task's.
	r.mu.Lock()
	r.pendingExit = nil
	r.mu.Unlock()
	for _, m := range mounts {
		req.Rootfs = append(req.Rootfs, &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	err = s.createTask(ctx, req)
	release()
	if err != nil {
		if nerr := netWait(); nerr != nil {
			// The network failed first and took its namespace away:
			// the task's error (no such namespace) only follows from it.
			err = nerr
		} else {
			err = startError(errgrpc.ToNative(err))
		}
		s.recordStartFailure(ctx, r, err)
		return err
	}
	defer func() {
		if err != nil {
			if _, derr := s.deleteTask(context.WithoutCancel(ctx), r.id); derr != nil {
				s.log.Warn("removing the task of a container that failed to start", "id", r.id, "err", derr)
			}
		}
	}()
	if err := netWait(); err != nil {
		s.recordStartFailure(ctx, r, err)
		return err
	}
	s.updateLinkParents(ctx, r.id)
	s.connectAttachers(ctx, r)
	if _, err := s.taskClient().Start(ctx, &tasks.StartRequest{ContainerID: r.id}); err != nil {
		err = startError(errgrpc.ToNative(err))
		s.recordStartFailure(ctx, r, err)
		return err
	}
	now := time.Now()
	clearsStop := by.clearsStop
	if err := r.started(now, by); err != nil {
		// The user stopped it while it started: the stop, waiting for
		// r.op, ends the new task; its mark stays.
		clearsStop = false
		if err != errStopWon {
			s.log.Warn("recording start", "id", r.id, "err", err)
		}
	}
	// The start time on disk tells a restarted berthd that the container
	// was running (restart policies, lost tasks).
	labels := map[string]string{labelStartedAt: formatTime(now)}
	if c.Labels[labelError] != "" {
		labels[labelError] = ""
	}
	if clearsStop && c.Labels[labelStoppedByUser] != "" {
		labels[labelStoppedByUser] = ""
	}
	if c.Labels[labelHealth] != "" {
		labels[labelHealth] = "" // this run's health starts over
	}
	if err := s.setLabels(ctx, r.id, labels); err != nil {
		s.log.Warn("recording start", "id", r.id, "err", err)
	}
	s.publish(r, "start", nil)
	s.startHealth(ctx, r, cfg, now, "")
	return nil
}

// startError turns runc's complaint about the container's command into
// Docker's exit codes: 127 not found, 126 not executable.
func startError(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "exec") {
		return err // not about the command (a mount, the network, ...)
	}
	switch {
	case strings.Contains(msg, "chdir to cwd"):
		dir := msg[strings.Index(msg, "chdir to cwd"):]
		if a, b := strings.Index(dir, `("`), strings.Index(dir, `")`); a >= 0 && b > a {
			dir = dir[a+2 : b]
		}
		return &containertypes.StartError{ExitCode: 126, Err: fmt.Errorf("the working directory %s does not exist in the container or is not a directory", dir)}
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return &containertypes.StartError{ExitCode: 127, Err: fmt.Errorf("the container's command was not found: %w", cleanRuncError(err))}
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"), strings.Contains(msg, "exec format error"):
		return &containertypes.StartError{ExitCode: 126, Err: fmt.Errorf("the container's command cannot be executed: %w", cleanRuncError(err))}
	}
	return err
}

// cleanRuncError keeps the useful tail of runc's nested error message.
func cleanRuncError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "exec: "); i >= 0 {
		return errors.New(strings.TrimSuffix(strings.TrimSpace(msg[i:]), ": unknown"))
	}
	return err
}

// recordStartFailure records a start error the way Docker shows it in
// inspect: State.Error and the exit code (126/127, else 128). Nothing ran,
// so FinishedAt stays that of the last run: a container that never ran
// stays Created (with the error), one that ran stays Exited.
func (s *Service) recordStartFailure(ctx context.Context, r *record, err error) {
	code := exitCodeOf(err)
	now := time.Now()
	labels := map[string]string{
		labelError:    err.Error(),
		labelExitCode: itoa(code),
	}
	if serr := s.setLabels(context.WithoutCancel(ctx), r.id, labels); serr != nil {
		s.log.Warn("recording start failure", "id", r.id, "err", serr)
	}
	st := containertypes.ExitStatus{ExitCode: code, Error: err.Error(), ExitedAt: now}
	r.notifyExit(st)
	r.failAttachers(err)
	s.publish(r, "die", map[string]string{"exitCode": itoa(code)})
}

// connectAttachers hands every pending attachment its connection to the new
// task's attach socket, before the process starts.
func (s *Service) connectAttachers(ctx context.Context, r *record) {
	r.mu.Lock()
	pending := r.attachers
	r.attachers = nil
	r.mu.Unlock()
	for _, a := range pending {
		conn, err := attach.Dial(ctx, s.attachSocket(r.id))
		a.deliver(conn, err)
	}
}

func (s *Service) setLabels(ctx context.Context, id string, labels map[string]string) error {
	c := containers.Container{ID: id, Labels: labels}
	paths := make([]string, 0, len(labels))
	for k, v := range labels {
		paths = append(paths, "labels."+k)
		if v == "" {
			delete(c.Labels, k)
		}
	}
	_, err := s.containerStore().Update(ctx, c, paths...)
	return err
}

// taskState returns the init process state of the container's task.
func (s *Service) taskState(ctx context.Context, id string) (*tasktypes.Process, error) {
	resp, err := s.taskClient().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	return resp.Process, nil
}

// createTask creates the container's task. containerd cleans up after a
// dead shim in the background: it publishes the task's exit before it lets
// go of the task's ID and bundle, so a start right after such an exit can
// find them still taken (AlreadyExists, "file exists"). The container has no
// live task here (its start holds r.op), so what is in the way is the dead
// one's: it is deleted, and the create tried again for a few seconds.
func (s *Service) createTask(ctx context.Context, req *tasks.CreateTaskRequest) error {
	_, err := s.taskClient().Create(ctx, req)
	for i := 0; err != nil && i < 30 && ctx.Err() == nil; i++ {
		err = errgrpc.ToNative(err)
		if !errdefs.IsAlreadyExists(err) && !strings.Contains(err.Error(), "file exists") {
			return err
		}
		if _, derr := s.deleteTask(ctx, req.ContainerID); derr != nil {
			s.log.Debug("deleting a dead task in a start's way", "id", req.ContainerID, "err", derr)
		}
		time.Sleep(100 * time.Millisecond)
		_, err = s.taskClient().Create(ctx, req)
	}
	return err
}

// deleteTask removes the container's task and returns its exit status. A
// missing task is not an error (exit status nil).
func (s *Service) deleteTask(ctx context.Context, id string) (*tasks.DeleteResponse, error) {
	resp, err := s.taskClient().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: id})
	if err != nil {
		err = errgrpc.ToNative(err)
		if errdefs.IsNotFound(err) {
			s.unmountShm(id)
			return nil, nil
		}
		return nil, err
	}
	s.unmountShm(id)
	return resp, nil
}

// load reads a container from containerd with its berth configuration.
func (s *Service) load(ctx context.Context, id string) (containers.Container, *containertypes.Config, error) {
	c, err := s.containerStore().Get(ctx, id)
	if err != nil {
		return c, nil, err
	}
	cfg, err := configOf(c)
	return c, cfg, err
}

func configOf(c containers.Container) (*containertypes.Config, error) {
	ext, ok := c.Extensions[extConfig]
	if !ok {
		return nil, fmt.Errorf("container %s has no berth configuration: it was not created by berth: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	v, err := typeurl.UnmarshalAny(ext)
	if err != nil {
		return nil, err
	}
	cfg, ok := v.(*containertypes.Config)
	if !ok {
		return nil, fmt.Errorf("container %s: unexpected configuration type %T", c.ID, v)
	}
	return cfg, nil
}

// imageConfig reads the config of the container's image (for -P's exposed
// ports); a missing image yields an empty config.
func (s *Service) imageConfig(ctx context.Context, c containers.Container) ocispec.ImageConfig {
	cfg, err := configOf(c)
	if err != nil || !cfg.PublishAllPorts {
		return ocispec.ImageConfig{}
	}
	img, err := s.opts.Images.ResolveForRun(ctx, c.Labels[labelImageID])
	if err != nil {
		return ocispec.ImageConfig{}
	}
	return img.Config.Config
}

// exitCodeOf is the exit code Docker records for a start error.
func exitCodeOf(err error) int {
	var se *containertypes.StartError
	if errors.As(err, &se) {
		return se.ExitCode
	}
	return 128
}
