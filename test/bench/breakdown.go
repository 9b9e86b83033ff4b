package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Breakdown is where the time of berth's `run --rm busybox true` goes: the
// CLI's start and end, berthd's events (create, start, die, destroy, …)
// and containerd's events in berth's namespace (/snapshot/prepare,
// /containers/create, /tasks/create, /tasks/start, /tasks/exit,
// /tasks/delete, /containers/delete, /snapshot/remove), each a timestamp
// taken by the process that did the work. An interval is named by the two
// marks around it; the median over several runs is given per interval.
type Breakdown struct {
	Network string  `json:"network"`
	Runs    int     `json:"runs"`
	Phases  []Phase `json:"phases"`
	// Legend explains the state-dir marks.
	Legend  []string `json:"legend,omitempty"`
	TotalMs float64  `json:"total_ms"`
	Notes   []string `json:"notes,omitempty"`
}

// Phase is one interval between consecutive marks.
type Phase struct {
	From, To string
	Ms       float64 // median over the runs
	Samples  []float64
}

type mark struct {
	name string
	t    time.Time
}

func (b *Bench) breakdowns() []*Breakdown {
	e := b.engine("berth")
	if e == nil || b.stack == nil {
		return nil
	}
	runs := 15
	if b.flags.quick {
		runs = 5
	}
	var out []*Breakdown
	specs := []bdSpec{
		{title: "`run --rm busybox true`, bridge network", done: "berthd: destroy",
			timed: func(string) (time.Duration, error) { return e.RunRm(b.ctx, "bridge") }},
		{title: "`run --rm busybox true`, none network", done: "berthd: destroy",
			timed: func(string) (time.Duration, error) { return e.RunRm(b.ctx, "none") }},
		{title: "`run -d busybox sleep 3600` (bridge), one of the 50", done: "berthd: start",
			timed: func(name string) (time.Duration, error) { return e.RunDetached(b.ctx, name) },
			after: func(name string) { _, _ = e.Exec(b.ctx, "rm", "-f", name) }},
		{title: "`rm -f` of one running container", done: "berthd: destroy",
			prep:  func(name string) error { _, err := e.RunDetached(b.ctx, name); return err },
			timed: func(name string) (time.Duration, error) { return e.Exec(b.ctx, "rm", "-f", name) }},
	}
	for _, sp := range specs {
		if b.ctx.Err() != nil {
			break
		}
		bd, err := b.breakdown(e, sp, runs)
		if err != nil {
			logf("breakdown %s: %v", sp.title, err)
			out = append(out, &Breakdown{Network: sp.title, Notes: []string{"failed: " + err.Error()}})
			continue
		}
		bd.Legend = stateLegend
		out = append(out, bd)
	}
	return out
}

// bdSpec is one command to break down: prep (untimed) sets it up, timed
// is the command, done the mark that ends it, after (untimed) cleans up.
type bdSpec struct {
	title string
	prep  func(name string) error
	timed func(name string) (time.Duration, error)
	done  string
	after func(name string)
}

// stateLegend explains the marks taken from berth's state dir (paths
// relative to it; + created, - removed).
var stateLegend = []string{
	"`netns/…`: the container's network namespace pin (berthd's network set-up starts / teardown ends)",
	"`containerd/io.containerd.runtime.v2.task/<ns>/…`: the task bundle (containerd about to start the shim / shim gone)",
	"`s/…`: the shim's socket (the shim is listening / gone)",
	"`io/…`: the container's attach socket (served by berth-logger or berth's shim)",
	"`runc/<ns>/…`: runc's state dir for the container (runc create began / runc delete done)",
	"`containerd: /…`: containerd's events (published when the operation is done); `berthd: …`: berthd's events",
}

func (b *Bench) engine(name string) *Engine {
	for _, e := range b.engines {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (b *Bench) breakdown(e *Engine, sp bdSpec, runs int) (*Breakdown, error) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var mu sync.Mutex
	var marks []mark
	add := func(name string, t time.Time) {
		mu.Lock()
		marks = append(marks, mark{name, t})
		mu.Unlock()
	}
	// berthd's events.
	ev := e.cli(ctx, "events", "--format", "json", "--filter", "type=container")
	evOut, err := ev.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := ev.Start(); err != nil {
		return nil, err
	}
	defer func() { cancel(); _ = ev.Wait() }()
	go func() {
		sc := bufio.NewScanner(evOut)
		for sc.Scan() {
			var m struct {
				Action string    `json:"Action"`
				Time   time.Time `json:"time"`
			}
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Action != "" {
				add("berthd: "+m.Action, m.Time)
			}
		}
	}()
	// containerd's events in berth's namespace.
	ce := exec.CommandContext(ctx, filepath.Join(b.stack.Libexec(), "ctr"), "--address", b.stack.ContainerdAddress(), "events")
	ceOut, err := ce.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := ce.Start(); err != nil {
		return nil, err
	}
	defer func() { cancel(); _ = ce.Wait() }()
	ns := b.stack.Namespace()
	go func() {
		sc := bufio.NewScanner(ceOut)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			// 2026-11-22 06:30:00.123456789 +0000 UTC NS /topic {...}
			f := strings.Fields(sc.Text())
			if len(f) < 6 || f[4] != ns {
				continue
			}
			t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.Join(f[:4], " "))
			if err == nil {
				add("containerd: "+f[5], t)
			}
		}
	}()
	rescan, err := watchState(ctx, b.stack.State(), b.stack.Namespace(), add)
	if err != nil {
		return nil, err
	}
	// Both subscriptions are live once an event of a throw-away run shows
	// up in each.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.RunRm(b.ctx, "none"); err != nil {
			return nil, err
		}
		mu.Lock()
		var be, ct bool
		for _, m := range marks {
			be = be || strings.HasPrefix(m.name, "berthd:")
			ct = ct || strings.HasPrefix(m.name, "containerd:")
		}
		mu.Unlock()
		if be && ct {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no events from berthd (%v) or containerd (%v)", be, ct)
		}
	}
	var all [][]mark
	for i := 0; i < runs; i++ {
		name := e.uniq("bench-bd-")
		if sp.prep != nil {
			if err := sp.prep(name); err != nil {
				return nil, err
			}
		}
		time.Sleep(300 * time.Millisecond) // let earlier late events land
		rescan()
		mu.Lock()
		marks = nil
		mu.Unlock()
		t0 := time.Now()
		d, err := sp.timed(name)
		if err != nil {
			return nil, err
		}
		t1 := t0.Add(d)
		// Wait for the done mark (auto-removal may end after the CLI).
		wait := time.Now().Add(5 * time.Second)
		for time.Now().Before(wait) {
			mu.Lock()
			done := false
			for _, m := range marks {
				done = done || m.name == sp.done
			}
			mu.Unlock()
			if done {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		ms := []mark{{"CLI exec", t0}, {"CLI exit", t1}}
		seen := map[string]bool{}
		for _, m := range marks {
			if !seen[m.name] {
				seen[m.name] = true
				ms = append(ms, m)
			}
		}
		mu.Unlock()
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].t.Before(ms[j].t) })
		all = append(all, ms)
		if sp.after != nil {
			sp.after(name)
		}
	}
	return summarizePhases(sp.title, all), nil
}

// summarizePhases orders the marks by their median time since the CLI's
// exec over the runs (a mark missing from a run is left out of that run's
// figures) and gives the intervals between consecutive marks: robust
// against events that race each other and come in either order.
func summarizePhases(network string, runs [][]mark) *Breakdown {
	bd := &Breakdown{Network: network, Runs: len(runs)}
	offsets := map[string][]float64{}
	for _, r := range runs {
		t0 := find(r, "CLI exec")
		if t0 == nil {
			continue
		}
		for _, m := range r {
			offsets[m.name] = append(offsets[m.name], float64(m.t.Sub(*t0).Microseconds())/1000)
		}
	}
	type med struct {
		name string
		ms   float64
		n    int
	}
	var meds []med
	for name, v := range offsets {
		s := Series{Samples: v}
		meds = append(meds, med{name, s.Summary().Median, len(v)})
	}
	sort.Slice(meds, func(i, j int) bool { return meds[i].ms < meds[j].ms })
	for k := 1; k < len(meds); k++ {
		bd.Phases = append(bd.Phases, Phase{From: meds[k-1].name, To: meds[k].name, Ms: meds[k].ms - meds[k-1].ms})
		if meds[k].n < len(runs) {
			bd.Notes = append(bd.Notes, fmt.Sprintf("%q was seen in %d of %d runs.", meds[k].name, meds[k].n, len(runs)))
		}
	}
	if v, ok := offsets["CLI exit"]; ok {
		s := Series{Samples: v}
		bd.TotalMs = s.Summary().Median
	}
	return bd
}

func find(ms []mark, name string) *time.Time {
	for i := range ms {
		if ms[i].name == name {
			return &ms[i].t
		}
	}
	return nil
}

// watchState marks entries created and removed in the stack's state dir
// tree (netns pins, shim sockets, runc state, task bundles, attach
// sockets): inotify on every dir up to depth 4. A mark's time is when this
// process read the event. Dirs come and go (some are removed when empty):
// the returned rescan watches the dirs that exist now, call it before
// each run.
func watchState(ctx context.Context, state, ns string, add func(string, time.Time)) (rescan func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// Through the runtime's poller: Close ends a pending Read, and the fd
	// number is not reused under a reader still blocked on it.
	f := os.NewFile(uintptr(fd), "inotify")
	var mu sync.Mutex
	dirs := map[int]string{}
	rescan = func() {
		_ = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(state, p)
			// Not inside one container's own dirs (a running one's bundle
			// or runc state): their files are noise, not phases.
			if strings.Count(rel, "/") >= 4 || isID(filepath.Base(rel)) {
				return filepath.SkipDir
			}
			if wd, err := unix.InotifyAddWatch(fd, p, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO); err == nil {
				mu.Lock()
				dirs[wd] = rel
				mu.Unlock()
			}
			return nil
		})
	}
	rescan()
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil || n <= 0 {
				return
			}
			now := time.Now()
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				op := "+"
				if ev.Mask&unix.IN_DELETE != 0 {
					op = "-"
				}
				mu.Lock()
				dir, ok := dirs[int(ev.Wd)]
				mu.Unlock()
				if ok && ev.Mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO) != 0 {
					add(fmt.Sprintf("%s %s/…", op, strings.ReplaceAll(dir, ns, "<ns>")), now)
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}()
	return rescan, nil
}

// isID reports whether s looks like a container ID (64 hex digits).
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
