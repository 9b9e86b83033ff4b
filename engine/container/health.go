package container

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// labelHealth holds the health status of a running container, so that a
// restarted berthd resumes its probes from it (live restore).
const labelHealth = "berth.state.health"

// healthState is a container's health and its probe loop. The loop is one
// timer: when it fires, its goroutine runs the probe as an exec through the
// container's shim, records the result and arms the timer again. Nothing
// runs between probes.
type healthState struct {
	mu     sync.Mutex
	cfg    containertypes.HealthConfig // with defaults
	health containertypes.Health
	// run counts the monitor's runs: a probe of an earlier run (the
	// container stopped and started meanwhile) drops its result.
	run       int
	active    bool
	timer     *time.Timer
	startedAt time.Time
	task      client.Task
	process   specs.Process
	cancel    context.CancelFunc // kills the probe in flight
}

// healthOf returns r's health state, creating it.
func (r *record) healthOf() *healthState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.health == nil {
		r.health = &healthState{}
	}
	return r.health
}

// startHealth starts the probes of a container whose task now runs. status
// is the status to start from: starting after a start, the recorded one
// when a restarted berthd resumes.
func (s *Service) startHealth(ctx context.Context, r *record, cfg *containertypes.Config, startedAt time.Time, status string) {
	if !cfg.Healthcheck.Enabled() {
		return
	}
	ctx = context.WithoutCancel(s.ctx(ctx))
	c, err := s.client.LoadContainer(ctx, r.id)
	if err != nil {
		s.log.Warn("healthcheck: loading the container", "id", r.id, "err", err)
		return
	}
	spec, err := c.Spec(ctx)
	if err != nil || spec.Process == nil {
		s.log.Warn("healthcheck: reading the container's spec", "id", r.id, "err", err)
		return
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		s.log.Warn("healthcheck: the container has no task", "id", r.id, "err", err)
		return
	}
	h := r.healthOf()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked()
	h.run++
	h.active = true
	h.cfg = cfg.Healthcheck.WithDefaults()
	h.startedAt = startedAt
	h.task = task
	h.process = *spec.Process
	h.process.Terminal = false
	h.process.ConsoleSize = nil
	h.process.Args = probeArgs(cfg.Healthcheck.Test)
	if status == "" {
		status = containertypes.HealthStarting
	}
	if status == containertypes.HealthStarting {
		h.health.FailingStreak = 0
	}
	h.health.Status = status
	run := h.run
	h.timer = time.AfterFunc(h.nextDelayLocked(time.Now()), func() { s.probe(ctx, r, h, run) })
}

// stopHealth stops the probes of a container whose task is gone. As
// Docker, a stopped monitor leaves the container unhealthy.
func (s *Service) stopHealth(r *record) {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active {
		h.health.Status = containertypes.HealthUnhealthy
	}
	h.stopLocked()
}

func (h *healthState) stopLocked() {
	h.active = false
	h.task = nil
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

// nextDelayLocked is Docker's: the start interval while the container is
// starting within its start period, else the interval.
func (h *healthState) nextDelayLocked(now time.Time) time.Duration {
	if h.health.Status == containertypes.HealthStarting && now.Sub(h.startedAt) < h.cfg.StartPeriod {
		return h.cfg.StartInterval
	}
	return h.cfg.Interval
}

// probeArgs turns a healthcheck test into the probe's command line.
func probeArgs(test []string) []string {
	if test[0] == "CMD-SHELL" {
		return append([]string{"/bin/sh", "-c"}, test[1:]...)
	}
	return append([]string(nil), test[1:]...)
}

// probe runs one probe and schedules the next (timer goroutine).
func (s *Service) probe(ctx context.Context, r *record, h *healthState, run int) {
	h.mu.Lock()
	if !h.active || h.run != run {
		h.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	task, process, timeout := h.task, h.process, h.cfg.Timeout
	h.mu.Unlock()

	res := s.runProbe(pctx, task, &process, timeout)
	cancel()

	h.mu.Lock()
	if !h.active || h.run != run {
		h.mu.Unlock()
		return // stopped meanwhile: the result is not the container's
	}
	h.cancel = nil
	old := h.health.Status
	h.recordLocked(res)
	status := h.health.Status
	h.timer = time.AfterFunc(h.nextDelayLocked(time.Now()), func() { s.probe(ctx, r, h, run) })
	h.mu.Unlock()
	if status != old {
		if err := s.setLabels(ctx, r.id, map[string]string{labelHealth: status}); err != nil {
			s.log.Debug("healthcheck: recording the status", "id", r.id, "err", err)
		}
		s.publish(r, "health_status: "+status, nil)
	}
}

// recordLocked applies a probe's result as Docker does: a success makes the
// container healthy; a failure counts unless the container is starting
// within its start period, and retries failures in a row make it unhealthy.
func (h *healthState) recordLocked(res containertypes.HealthcheckResult) {
	h.health.Log = append(h.health.Log, res)
	if n := len(h.health.Log); n > containertypes.HealthMaxLog {
		h.health.Log = append([]containertypes.HealthcheckResult(nil), h.health.Log[n-containertypes.HealthMaxLog:]...)
	}
	if res.ExitCode == 0 {
		h.health.FailingStreak = 0
		h.health.Status = containertypes.HealthHealthy
		return
	}
	if h.health.Status == containertypes.HealthStarting && res.Start.Sub(h.startedAt) < h.cfg.StartPeriod {
		return // failures in the start period do not count
	}
	h.health.FailingStreak++
	if h.health.FailingStreak >= h.cfg.Retries {
		h.health.Status = containertypes.HealthUnhealthy
	}
}

// runProbe execs the probe in the container's task and waits for it, at
// most timeout: a probe still running then is killed and fails.
func (s *Service) runProbe(ctx context.Context, task client.Task, process *specs.Process, timeout time.Duration) (res containertypes.HealthcheckResult) {
	res = containertypes.HealthcheckResult{Start: time.Now(), ExitCode: -1}
	defer func() { res.End = time.Now() }()
	if task == nil {
		res.Output = "the container is not running"
		return res
	}
	out := &cappedBuffer{max: containertypes.HealthMaxOutput}
	creator := cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(s.opts.State+"/fifo"))
	proc, err := task.Exec(ctx, "health-"+newID()[:16], process, creator)
	if err != nil {
		res.Output = fmt.Sprintf("the probe could not run: %v", startError(err))
		return res
	}
	bg := context.WithoutCancel(ctx)
	defer func() {
		if pio := proc.IO(); pio != nil {
			// A process the probe left behind may hold its output open.
			t := time.AfterFunc(time.Second, pio.Cancel)
			pio.Wait()
			t.Stop()
			_ = pio.Close() // its pipes; nothing to do if closing fails
		}
		_, _ = proc.Delete(bg) // best effort: the process is gone with its task
		res.Output = out.String()
		if res.ExitCode == -1 && err != nil {
			// What the probe printed before it was cut off stays, as
			// dockerd keeps it: "Health check exceeded timeout (1s): …".
			msg := err.Error()
			if res.Output != "" {
				msg += ": " + res.Output
			}
			res.Output = msg
		}
	}()
	statusC, err := proc.Wait(bg)
	if err != nil {
		return res
	}
	if err = proc.Start(ctx); err != nil {
		err = fmt.Errorf("the probe could not run: %w", startError(err))
		return res
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case st := <-statusC:
		code, _, _ := st.Result()
		res.ExitCode = int(code)
		return res
	case <-timer.C:
		err = fmt.Errorf("Health check exceeded timeout (%v)", timeout)
	case <-ctx.Done():
		err = fmt.Errorf("the container stopped")
	}
	_ = proc.Kill(bg, syscall.SIGKILL)
	select {
	case <-statusC:
	case <-time.After(5 * time.Second):
	}
	return res
}

// cappedBuffer keeps the first max bytes written to it (a probe's output,
// as Docker's 4 KiB) and discards the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// healthView is the container's health for inspect and ps: nil for a
// container without a healthcheck or that never ran.
func (r *record) healthView() *containertypes.Health {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.health.Status == "" {
		return nil
	}
	out := h.health
	out.Log = append([]containertypes.HealthcheckResult{}, h.health.Log...)
	return &out
}

// healthActive reports whether r's probes run.
func (r *record) healthActive() bool {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active
}

// healthStatus is r's health status, "" without one.
func (r *record) healthStatus() string {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.health.Status
}

// recordedHealth is the health status the labels hold for a running
// container whose probes berthd has not resumed yet.
func recordedHealth(c containers.Container) string {
	if v := c.Labels[labelHealth]; v != "" {
		return v
	}
	return containertypes.HealthStarting
}
