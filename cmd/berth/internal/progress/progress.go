// Package progress draws the progress of pulls and pushes as the Docker CLI
// does: on a terminal, one line per layer (waiting, downloading with a bar,
// bytes and speed, extracting, done) rewritten in place; otherwise plain
// lines, one per change of state, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/go-units"
)

// Event is one update: a layer's state (ID set) or a line (Message).
type Event struct {
	ID      string
	Status  string
	Current int64
	Total   int64
	Message string
}

// Renderer draws events to a writer. It is not safe for concurrent use.
type Renderer struct {
	w     io.Writer
	tty   bool
	width int
	now   func() time.Time

	lines  int            // lines printed so far (tty)
	row    map[string]int // layer ID → its line (tty)
	status map[string]string
	speed  map[string]*rate
}

type rate struct {
	t   time.Time
	cur int64
	bps float64
}

// New returns a renderer; tty selects in-place drawing, width (columns, 0
// for 80) bounds the line length on a terminal.
func New(w io.Writer, tty bool, width int) *Renderer {
	if width <= 0 {
		width = 80
	}
	return &Renderer{w: w, tty: tty, width: width, now: time.Now,
		row: map[string]int{}, status: map[string]string{}, speed: map[string]*rate{}}
}

// Update draws one event.
func (r *Renderer) Update(e Event) {
	if e.ID == "" {
		if e.Message != "" {
			fmt.Fprintln(r.w, e.Message)
			r.lines++
		}
		return
	}
	if !r.tty {
		if r.status[e.ID] != e.Status {
			r.status[e.ID] = e.Status
			fmt.Fprintf(r.w, "%s: %s\n", e.ID, e.Status)
		}
		return
	}
	text := r.format(e)
	i, seen := r.row[e.ID]
	if !seen {
		r.row[e.ID] = r.lines
		r.lines++
		fmt.Fprintln(r.w, text)
		return
	}
	up := r.lines - i
	// Up to the layer's line, clear it, write, and back down.
	fmt.Fprintf(r.w, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, text, up)
}

// format is a layer's line: "<id>: Downloading [==>    ]  1.2MB/40MB  12MB/s".
func (r *Renderer) format(e Event) string {
	s := e.ID + ": " + e.Status
	if (e.Status == "Downloading" || e.Status == "Pushing") && e.Total > 0 {
		s += " " + bar(e.Current, e.Total, 30) + " " + units.HumanSize(float64(e.Current)) + "/" + units.HumanSize(float64(e.Total))
		if bps := r.rate(e); bps > 0 {
			s += "  " + units.HumanSize(bps) + "/s"
		}
	}
	if len(s) > r.width-1 {
		s = s[:r.width-1]
	}
	return s
}

// rate is the layer's speed, smoothed over updates.
func (r *Renderer) rate(e Event) float64 {
	now := r.now()
	rt := r.speed[e.ID]
	if rt == nil {
		r.speed[e.ID] = &rate{t: now, cur: e.Current}
		return 0
	}
	if dt := now.Sub(rt.t).Seconds(); dt > 0.05 && e.Current >= rt.cur {
		inst := float64(e.Current-rt.cur) / dt
		if rt.bps == 0 {
			rt.bps = inst
		} else {
			rt.bps = 0.5*rt.bps + 0.5*inst
		}
		rt.t, rt.cur = now, e.Current
	}
	return rt.bps
}

func bar(cur, total int64, width int) string {
	n := int(float64(width) * float64(min(cur, total)) / float64(total))
	if n >= width {
		return "[" + strings.Repeat("=", width) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1) + "]"
}
