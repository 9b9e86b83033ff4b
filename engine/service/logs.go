package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Peers reaches other nodes' cluster endpoints (engine/cluster's
// Handle, PeerClient, PeerURL).
type Peers interface {
	PeerClient() (*http.Client, error)
	PeerURL(addr string) string
}

// LogsPath is where a node serves its tasks' logs to the other nodes
// (GET LogsPath+TASK-ID with the log options as query parameters; the
// answer is one JSON container.LogEntry per line).
const LogsPath = "/v1/services/task-logs/"

// LogsHandler serves this node's task logs to the other nodes.
func (s *Service) LogsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, LogsPath)
		if s.opts.Engine.Containers == nil || id == "" || strings.Contains(id, "/") {
			http.NotFound(w, r)
			return
		}
		rec, _, err := s.records()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		t, err := rec.findTask(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		opts := logOptionsFromQuery(r.URL.Query())
		w.Header().Set("Content-Type", "application/x-ndjson")
		fl, _ := w.(http.Flusher)
		enc := json.NewEncoder(w)
		err = s.opts.Engine.Containers.Logs(r.Context(), ContainerName(t), opts, func(e container.LogEntry) error {
			if err := enc.Encode(e); err != nil {
				return err
			}
			if fl != nil {
				fl.Flush()
			}
			return nil
		})
		if err != nil && r.Context().Err() == nil {
			_ = enc.Encode(container.LogEntry{Stream: "stderr", Time: time.Now(), Line: []byte("error reading the logs: " + err.Error() + "\n")})
		}
	})
}

func logOptionsQuery(o container.LogOptions) url.Values {
	q := url.Values{}
	q.Set("follow", strconv.FormatBool(o.Follow))
	q.Set("tail", strconv.Itoa(o.Tail))
	q.Set("stdout", strconv.FormatBool(o.Stdout))
	q.Set("stderr", strconv.FormatBool(o.Stderr))
	q.Set("timestamps", strconv.FormatBool(o.Timestamps))
	if !o.Since.IsZero() {
		q.Set("since", strconv.FormatInt(o.Since.UnixNano(), 10))
	}
	if !o.Until.IsZero() {
		q.Set("until", strconv.FormatInt(o.Until.UnixNano(), 10))
	}
	return q
}

func logOptionsFromQuery(q url.Values) container.LogOptions {
	b := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	o := container.LogOptions{Follow: b("follow"), Stdout: b("stdout"), Stderr: b("stderr"), Timestamps: b("timestamps"), Tail: -1}
	if n, err := strconv.Atoi(q.Get("tail")); err == nil {
		o.Tail = n
	}
	if n, err := strconv.ParseInt(q.Get("since"), 10, 64); err == nil && n > 0 {
		o.Since = time.Unix(0, n)
	}
	if n, err := strconv.ParseInt(q.Get("until"), 10, 64); err == nil && n > 0 {
		o.Until = time.Unix(0, n)
	}
	return o
}

// Logs streams the logs of a service's tasks (or one task's), each read
// on the node that runs it: this node's from its container service, the
// others' through their cluster endpoint. With Follow, tasks started
// later are followed too.
func (s *Service) Logs(ctx context.Context, ref string, opts container.LogOptions, fn func(stypes.LogEntry) error) error {
	r, st, err := s.records()
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		opts.Stdout, opts.Stderr = true, true
	}
	lctx, cancel := context.WithTimeout(ctx, storeTimeout)
	var serviceID, taskID string
	if svc, err := r.find(lctx, ref); err == nil {
		serviceID = svc.ID
	} else if t, terr := r.findTask(lctx, ref); terr == nil {
		serviceID, taskID = t.ServiceID, t.ID
	} else {
		cancel()
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("no such service or task: %s: %w", ref, errdefs.ErrNotFound)
		}
		return storeErr(err)
	}
	cancel()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		fnErr   error
		wg      sync.WaitGroup
		started = map[string]bool{}
	)
	emit := func(t *stypes.Task, e container.LogEntry) error {
		mu.Lock()
		defer mu.Unlock()
		if fnErr != nil {
			return fnErr
		}
		if err := fn(stypes.LogEntry{TaskID: t.ID, NodeID: t.NodeID, Slot: t.Slot, LogEntry: e}); err != nil {
			fnErr = err
			stop()
		}
		return fnErr
	}
	startAll := func() error {
		tctx, cancel := context.WithTimeout(ctx, storeTimeout)
		defer cancel()
		tasks, _, err := r.tasks(tctx, serviceID)
		if err != nil {
			return storeErr(err)
		}
		for _, t := range tasks {
			if taskID != "" && t.ID != taskID || started[t.ID] || t.NodeID == "" ||
				t.Status.ContainerStatus == nil && stypes.TaskStateOrder(t.Status.State) < stypes.TaskStateOrder(stypes.TaskStateStarting) {
				continue
			}
			started[t.ID] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if t.NodeID == st.NodeID && s.opts.Engine.Containers != nil {
					err = s.opts.Engine.Containers.Logs(ctx, ContainerName(t), opts, func(e container.LogEntry) error { return emit(t, e) })
				} else {
					err = s.remoteLogs(ctx, t, opts, func(e container.LogEntry) error { return emit(t, e) })
				}
				if err != nil && ctx.Err() == nil && !errdefs.IsNotFound(err) {
					_ = emit(t, container.LogEntry{Stream: "stderr", Time: time.Now(), Line: []byte("error reading the task's logs: " + err.Error() + "\n")})
				}
			}()
		}
		return nil
	}
	if err := startAll(); err != nil {
		return err
	}
	if opts.Follow {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
				if taskID == "" {
					_ = startAll()
				}
			}
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return fnErr
}

// remoteLogs reads a task's logs from the node running it.
func (s *Service) remoteLogs(ctx context.Context, t *stypes.Task, opts container.LogOptions, fn func(container.LogEntry) error) error {
	if s.opts.Peers == nil {
		return fmt.Errorf("the logs of task %s are on node %s, which this node cannot reach: %w", t.ID, t.NodeID, errdefs.ErrUnavailable)
	}
	_, st, err := s.records()
	if err != nil {
		return err
	}
	n, err := st.Node(ctx, t.NodeID)
	if err != nil || n == nil {
		return fmt.Errorf("node %s of task %s: %w", t.NodeID, t.ID, errdefs.ErrNotFound)
	}
	cl, err := s.opts.Peers.PeerClient()
	if err != nil {
		return err
	}
	u := s.opts.Peers.PeerURL(n.Addr) + LogsPath + t.ID + "?" + logOptionsQuery(opts).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("node %s (%s) does not answer: %w", n.Hostname, n.Addr, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node %s: %s", n.Hostname, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var e container.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}
