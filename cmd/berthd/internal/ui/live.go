package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
)

var errInvalid = errdefs.ErrInvalidArgument

// stream is a server-sent events answer.
type stream struct {
	w http.ResponseWriter
	f http.Flusher
}

func newStream(w http.ResponseWriter, r *http.Request) (*stream, error) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, errors.New("streaming is not supported on this connection")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A comment opens the stream at once (EventSource's onopen).
	if _, err := fmt.Fprint(w, ": berth\n\n"); err != nil {
		return nil, err
	}
	f.Flush()
	return &stream{w: w, f: f}, nil
}

// send writes one event; data may span lines.
func (s *stream) send(event string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: " + event + "\n")
	for _, l := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *stream) json(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.send(event, b)
}

// fragment sends the HTML body writes: app.js swaps it into the element
// whose id is the event's name.
func (s *stream) fragment(event string, body func(*htmlWriter)) error {
	var h htmlWriter
	body(&h)
	return s.send(event, h.b.Bytes())
}

func eventsFilter(f map[string][]string) events.Filter { return events.Filter{Filters: f} }

// logLine is one line of the log stream.
type logLine struct {
	S string `json:"s"` // stream: o(ut) or e(rr)
	T string `json:"t"` // RFC 3339 time
	L string `json:"l"`
}

func logOptions(r *http.Request, follow bool) container.LogOptions {
	tail := 500
	if v := r.URL.Query().Get("tail"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			tail = n
		}
	}
	return container.LogOptions{Follow: follow, Tail: tail, Stdout: true, Stderr: true}
}

// liveLogs streams a container's log: the last lines, then (follow) new
// ones as the container writes them. Lines are batched for a moment so a
// chatty container costs one event per batch, not per line.
func (s *Server) liveLogs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := s.b.Containers.Inspect(ctx, id); err != nil {
		return err
	}
	st, err := newStream(w, r)
	if err != nil {
		return err
	}
	batch := make(chan logLine, 256)
	done := make(chan error, 1)
	go func() {
		done <- s.b.Containers.Logs(ctx, id, logOptions(r, r.URL.Query().Get("follow") != "0"), func(e container.LogEntry) error {
			l := logLine{S: "o", T: e.Time.UTC().Format(time.RFC3339Nano), L: strings.TrimSuffix(string(e.Line), "\n")}
			if e.Stream == "stderr" {
				l.S = "e"
			}
			select {
			case batch <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(batch)
	}()
	var pending []logLine
	flush := time.NewTicker(100 * time.Millisecond)
	defer flush.Stop()
	for {
		select {
		case l, ok := <-batch:
			if !ok {
				if len(pending) > 0 {
					_ = st.json("lines", pending)
				}
				if err := <-done; err != nil && ctx.Err() == nil {
					s.log.Debug("dashboard logs", "container", id, "error", err)
				}
				_ = st.send("end", []byte("end"))
				return nil
			}
			pending = append(pending, l)
		case <-flush.C:
			if len(pending) > 0 {
				if err := st.json("lines", pending); err != nil {
					return nil
				}
				pending = nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// logsDownload is the whole log as text (timestamps=1 prefixes each line).
func (s *Server) logsDownload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	c, err := s.b.Containers.Inspect(ctx, id)
	if err != nil {
		return err
	}
	ts := r.URL.Query().Get("timestamps") == "1"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.TrimPrefix(c.Name, "/")+".log"))
	bw := bufio.NewWriter(w)
	opts := logOptions(r, false)
	opts.Tail = -1
	err = s.b.Containers.Logs(ctx, c.ID, opts, func(e container.LogEntry) error {
		if ts {
			if _, err := bw.WriteString(e.Time.UTC().Format(time.RFC3339Nano) + " "); err != nil {
				return err
			}
		}
		_, err := bw.Write(e.Line)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request) error {
	s.page(w, r, "Events", eventsBody)
	return nil
}

// eventsBody is the feed's page: app.js fills the table from the stream.
func eventsBody(w *htmlWriter) {
	w.raw(`
<h1>Events</h1>
<p>The last hour's events, then new ones as they happen.</p>
<table class="events"><thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Action</th><th scope="col">Name or ID</th><th scope="col">Attributes</th></tr></thead>
<tbody id="events" data-events="/live/events" aria-live="polite"></tbody></table>
`)
}

// eventView is one event of the feed.
type eventView struct {
	Time   string `json:"time"`
	Type   string `json:"type"`
	Action string `json:"action"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Attrs  string `json:"attrs"`
}

// liveEvents streams the event feed: the last hour's events, then new ones.
func (s *Server) liveEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ch, err := s.b.Events.Subscribe(ctx, events.Filter{Since: time.Now().Add(-time.Hour)})
	if err != nil {
		return err
	}
	st, err := newStream(w, r)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			v := eventView{Time: m.Time.Local().Format("15:04:05"), Type: m.Type, Action: m.Action, ID: m.Actor.ID, Name: m.Actor.Attributes["name"]}
			var attrs []string
			for k, val := range m.Actor.Attributes {
				if k != "name" && !strings.HasPrefix(k, "com.docker.compose.") {
					attrs = append(attrs, k+"="+val)
				}
			}
			sortStrings(attrs)
			v.Attrs = strings.Join(attrs, " ")
			if err := st.json("event", v); err != nil {
				return nil
			}
		}
	}
}
