package compose

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progress shows what up, down and the other commands do to each object,
// as docker compose does: on a terminal a block of lines, one per object
// with its latest state, redrawn in place; otherwise one plain line per
// change (" Container p-web-1  Started").
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	quiet bool
	title string
	order []string
	state map[string]string
	drawn int
}

func (a *app) newProgress(title string) *progress {
	return &progress{w: a.env.Stderr, tty: a.ttyOut(), quiet: a.progress == "quiet", title: title, state: map[string]string{}}
}

// set records that kind name (Container p-web-1) is now status.
func (p *progress) set(kind, name, status string) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := kind + " " + name
	if _, ok := p.state[key]; !ok {
		p.order = append(p.order, key)
	}
	p.state[key] = status
	if !p.tty {
		fmt.Fprintf(p.w, " %s  %s\n", key, status)
		return
	}
	p.redraw()
}

func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	done := 0
	for _, k := range p.order {
		if final(p.state[k]) {
			done++
		}
	}
	fmt.Fprintf(&b, "\x1b[2K[+] %s %d/%d\n", p.title, done, len(p.order))
	for _, k := range p.order {
		mark := " "
		if final(p.state[k]) {
			mark = "\x1b[32m✔\x1b[0m"
		}
		fmt.Fprintf(&b, "\x1b[2K %s %s  %s\n", mark, k, p.state[k])
	}
	p.drawn = len(p.order) + 1
	_, _ = io.WriteString(p.w, b.String())
}

func final(status string) bool {
	switch status {
	case "Created", "Started", "Running", "Stopped", "Removed", "Healthy", "Recreated", "Killed",
		"Paused", "Unpaused", "Restarted", "Pulled", "Pushed", "Exited", "Waiting", "Skipped":
		return true
	}
	return false
}
