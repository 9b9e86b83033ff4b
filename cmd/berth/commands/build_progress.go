package commands

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/pkg/types/build"
)

// buildDisplay shows a build's progress as Docker does: numbered plain
// lines ("#5 [2/3] RUN make", its output, "#5 DONE 1.2s") when the output
// is not a terminal, and on a terminal a live list of the steps with their
// times, the last lines of the running steps' output, and the whole
// output of a step that failed.
type buildDisplay struct {
	w    io.Writer
	mode string // plain, tty, quiet

	mu      sync.Mutex
	start   time.Time
	order   []string // digests in first-seen order
	steps   map[string]*buildStep
	printed int // tty: lines of the live region
	width   int
	stop    chan struct{}
	closed  bool
}

type buildStep struct {
	n          int
	v          build.Vertex
	logs       bytes.Buffer
	announced  bool // plain: its "#n name" line is out
	finished   bool // plain: its DONE/CACHED/ERROR line is out
	statusDone map[string]bool
}

func newBuildDisplay(w io.Writer, mode string) *buildDisplay {
	d := &buildDisplay{w: w, mode: mode, start: time.Now(), steps: map[string]*buildStep{}, stop: make(chan struct{}), width: 80}
	if mode == "tty" {
		if f, ok := w.(*os.File); ok {
			if sz, ok := term.GetSize(f); ok && sz.Width > 20 {
				d.width = int(sz.Width)
			}
		}
		go d.tick()
	}
	return d
}

func (d *buildDisplay) tick() {
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			d.redraw()
			d.mu.Unlock()
		}
	}
}

func (d *buildDisplay) step(dg string) *buildStep {
	s, ok := d.steps[dg]
	if !ok {
		s = &buildStep{n: len(d.order) + 1, statusDone: map[string]bool{}}
		d.steps[dg] = s
		d.order = append(d.order, dg)
	}
	return s
}

func (d *buildDisplay) update(ev build.Event) {
	if d.mode == "quiet" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range ev.Vertexes {
		s := d.step(v.Digest)
		s.v = v
		if d.mode == "plain" {
			d.plainVertex(s)
		}
	}
	for _, st := range ev.Statuses {
		s := d.step(st.Vertex)
		if d.mode == "plain" && st.Completed != nil && !s.statusDone[st.ID] {
			s.statusDone[st.ID] = true
			d.plainAnnounce(s)
			fmt.Fprintf(d.w, "#%d %s done\n", s.n, st.ID)
		}
	}
	for _, l := range ev.Logs {
		s := d.step(l.Vertex)
		s.logs.Write(l.Data)
		if d.mode == "plain" {
			d.plainAnnounce(s)
			for _, line := range strings.SplitAfter(string(l.Data), "\n") {
				if line == "" {
					continue
				}
				el := 0.0
				if s.v.Started != nil {
					el = l.Timestamp.Sub(*s.v.Started).Seconds()
				}
				fmt.Fprintf(d.w, "#%d %.3f %s", s.n, el, strings.TrimSuffix(line, "\n")+"\n")
			}
		}
	}
	for _, wn := range ev.Warnings {
		if d.mode == "plain" {
			fmt.Fprintf(d.w, "WARNING: %s\n", wn.Short)
		}
	}
	if d.mode == "tty" {
		d.redraw()
	}
}

func (d *buildDisplay) plainAnnounce(s *buildStep) {
	if !s.announced {
		s.announced = true
		fmt.Fprintf(d.w, "#%d %s\n", s.n, s.v.Name)
	}
}

func (d *buildDisplay) plainVertex(s *buildStep) {
	if s.finished {
		return
	}
	switch {
	case s.v.Cached:
		d.plainAnnounce(s)
		fmt.Fprintf(d.w, "#%d CACHED\n", s.n)
		s.finished = true
	case s.v.Error != "":
		d.plainAnnounce(s)
		fmt.Fprintf(d.w, "#%d ERROR: %s\n", s.n, s.v.Error)
		s.finished = true
	case s.v.Completed != nil:
		d.plainAnnounce(s)
		fmt.Fprintf(d.w, "#%d DONE %.1fs\n", s.n, elapsed(s.v))
		s.finished = true
	case s.v.Started != nil:
		d.plainAnnounce(s)
	}
}

func elapsed(v build.Vertex) float64 {
	if v.Started == nil {
		return 0
	}
	end := time.Now()
	if v.Completed != nil {
		end = *v.Completed
	}
	return end.Sub(*v.Started).Seconds()
}

// redraw rewrites the live region (tty mode); d.mu is held.
func (d *buildDisplay) redraw() {
	if d.closed {
		return
	}
	var b strings.Builder
	if d.printed > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", d.printed)
	}
	lines := d.ttyLines()
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	d.printed = len(lines)
	_, _ = io.WriteString(d.w, b.String())
}

func (d *buildDisplay) ttyLines() []string {
	done := 0
	for _, dg := range d.order {
		if v := d.steps[dg].v; v.Completed != nil || v.Cached {
			done++
		}
	}
	lines := []string{fmt.Sprintf("[+] Building %.1fs (%d/%d)", time.Since(d.start).Seconds(), done, len(d.order))}
	for _, dg := range d.order {
		s := d.steps[dg]
		if s.v.Name == "" || s.v.Started == nil && !s.v.Cached {
			continue
		}
		name := s.v.Name
		prefix := " => "
		switch {
		case s.v.Cached:
			name = "CACHED " + name
		case s.v.Error != "":
			name = "ERROR " + name
		}
		t := fmt.Sprintf("%.1fs", elapsed(s.v))
		if s.v.Cached {
			t = "0.0s"
		}
		lines = append(lines, d.fit(prefix+name, t))
		if s.v.Completed == nil && !s.v.Cached && s.logs.Len() > 0 {
			for _, l := range lastLines(s.logs.String(), 6) {
				lines = append(lines, d.fit(" => => # "+l, ""))
			}
		}
	}
	return lines
}

// fit pads or cuts a line to the terminal's width, with t at its end.
func (d *buildDisplay) fit(s, t string) string {
	w := d.width - 1
	if len(s)+len(t)+1 > w {
		cut := w - len(t) - 1
		if cut < 0 {
			cut = 0
		}
		if cut < len(s) {
			s = s[:cut]
		}
	}
	if t == "" {
		return s
	}
	return s + strings.Repeat(" ", max(1, w-len(s)-len(t))) + t
}

func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, "\r", "")
	}
	return lines
}

// close draws the final state once, then the output of the steps that
// failed (on a terminal their output was only glimpsed).
func (d *buildDisplay) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if d.mode == "tty" {
		close(d.stop)
		d.redraw()
		for _, dg := range d.order {
			s := d.steps[dg]
			if s.v.Error != "" && s.logs.Len() > 0 {
				fmt.Fprintf(d.w, "------\n > %s:\n", s.v.Name)
				for _, l := range lastLines(s.logs.String(), 20) {
					fmt.Fprintf(d.w, "%s\n", l)
				}
				fmt.Fprintln(d.w, "------")
			}
		}
	}
	d.closed = true
}

// done reports the image built.
func (d *buildDisplay) done(res *build.Result) {
	if res.ImageID == "" {
		return
	}
	fmt.Fprintf(d.w, "writing image %s\n", res.ImageID)
	for _, t := range res.Tags {
		fmt.Fprintf(d.w, "naming to %s\n", t)
	}
}
