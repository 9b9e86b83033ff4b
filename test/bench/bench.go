package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/test/harness"
	"golang.org/x/sys/unix"
)

// Bench is one run: its engines, its dirs and what to clean up.
type Bench struct {
	ctx   context.Context
	flags flags
	repo  string
	dir   string // private work dir (archives, copies of binaries)

	// Archives of the busybox test image.
	OCIArchive    string // OCI layout (berth load, ctr import)
	DockerArchive string // docker-archive (docker load, podman load)

	engines []*Engine
	infos   []EngineInfo
	stack   *harness.Stack // berth's
	results *Results

	mu        sync.Mutex
	cleanups  []namedCleanup
	peerLinks []string
	peerWords []string
	usedNets  map[string]bool
}

type namedCleanup struct {
	name string
	f    func() error
}

// addCleanup registers f to run at the end (last registered first), also
// after an interrupt.
func (b *Bench) addCleanup(name string, f func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, namedCleanup{name, f})
}

func (b *Bench) cleanup() error {
	b.mu.Lock()
	cs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		logf("clean-up: %s", cs[i].name)
		if err := cs[i].f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cs[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// subnet returns a /24 in 10.200–254.x.0 not used by a route on this host
// nor by an earlier call, as "10.a.b.0/24".
func (b *Bench) subnet() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.usedNets == nil {
		b.usedNets = map[string]bool{}
	}
	routes, _ := exec.Command("ip", "-4", "route").Output()
	for {
		var r [2]byte
		_, _ = rand.Read(r[:])
		s := fmt.Sprintf("10.%d.%d.", 200+int(r[0])%55, r[1])
		if !b.usedNets[s] && !strings.Contains(string(routes), s) {
			b.usedNets[s] = true
			return s + "0/24"
		}
	}
}

func (b *Bench) main() int {
	started := time.Now()
	res := &Results{
		Quick:   b.flags.quick,
		Reps:    b.flags.reps,
		Command: commandLine(),
		Started: started,
		Machine: machineInfo(),
		Commit:  gitDescribe(b.repo),
	}
	if err := b.setup(res); err != nil {
		logf("%v", err)
		return 1
	}
	b.results = res
	env := &Env{Ctx: b.ctx, Quick: b.flags.quick, Reps: b.flags.reps, Engines: b.engines, Bench: b}
	for _, sc := range Scenarios() {
		if !selected(b.flags.scenarios, sc.Name) {
			continue
		}
		if b.ctx.Err() != nil {
			break
		}
		r := &ScenarioResult{Name: sc.Name, Title: sc.Title, Group: sc.Group, Unit: sc.Unit, Target: sc.Target}
		res.Scenarios = append(res.Scenarios, r)
		env.result = r
		logf("scenario %s", sc.Name)
		t0 := time.Now()
		if err := sc.Run(env); err != nil {
			r.Error = err.Error()
			logf("scenario %s: %v", sc.Name, err)
		}
		r.Seconds = time.Since(t0).Seconds()
		for _, s := range r.Series {
			st := s.Summary()
			logf("  %-7s median %8.1f %s  p90 %8.1f  min %8.1f  max %8.1f  n %d %s", s.Engine, st.Median, sc.Unit, st.P90, st.Min, st.Max, st.N, s.Error)
		}
	}
	if b.ctx.Err() == nil && selected(b.flags.scenarios, "breakdown") {
		logf("per-phase breakdown of berth's run --rm")
		res.Breakdown = b.breakdowns()
	}
	res.Finished = time.Now()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.Machine["load at end"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	interrupted := b.ctx.Err() != nil
	if interrupted {
		res.Notes = append(res.Notes, "interrupted: incomplete")
	}
	raw, err := b.writeRaw(res)
	if err != nil {
		logf("write results: %v", err)
		return 1
	}
	logf("raw results: %s", raw)
	if interrupted {
		logf("interrupted: %s not regenerated", b.flags.doc)
		return 130
	}
	if b.flags.scenarios != "" {
		logf("a subset of scenarios was run: %s not regenerated (use --report %s)", b.flags.doc, raw)
		return 0
	}
	if err := writeReport(res, b.flags.doc); err != nil {
		logf("report: %v", err)
		return 1
	}
	logf("wrote %s (%s)", b.flags.doc, time.Since(started).Round(time.Second))
	return 0
}

// setup builds the image archives, snapshots the host and starts every
// engine. A peer that cannot start is reported and left out.
func (b *Bench) setup(res *Results) error {
	// One bench at a time per host: two dockerds share the DOCKER
	// chains, and the clean-up removes the peer chains that appeared
	// during the run.
	if err := b.lock(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("/tmp", "bB")
	if err != nil {
		return err
	}
	b.dir = dir
	// Registered first: runs last, after every engine has stopped.
	snap := takeHostSnapshot()
	b.addCleanup("host (peer bridges, netns, firewall chains)", func() error {
		err := snap.restore(b.peerLinks, b.peerWords)
		return errors.Join(err, os.RemoveAll(dir))
	})

	tb := &benchTB{}
	if err := guard(func() { b.OCIArchive = harness.BusyboxArchive(tb) }); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(b.flags.engines, ",") {
		want[strings.TrimSpace(n)] = true
	}
	if want["docker"] || want["podman"] {
		b.ensurePeers(want)
		if want["docker"] || want["podman"] {
			b.DockerArchive = filepath.Join(dir, "busybox-docker.tar")
			out, err := exec.CommandContext(b.ctx, "skopeo", "copy", "--quiet", "oci-archive:"+b.OCIArchive,
				"docker-archive:"+b.DockerArchive+":"+Image).CombinedOutput()
			if err != nil {
				return fmt.Errorf("skopeo copy to docker-archive: %v: %s", err, out)
			}
		}
	}
	logf("starting berth")
	e, err := b.newBerth(b.OCIArchive)
	if err != nil {
		return err
	}
	b.add(e, nil)
	for _, p := range []struct {
		name string
		f    func() (*Engine, error)
	}{
		{"docker", func() (*Engine, error) { return b.newDocker(b.DockerArchive) }},
		{"podman", func() (*Engine, error) { return b.newPodman(b.DockerArchive) }},
		{"ctr", func() (*Engine, error) { return b.newCtr(b.OCIArchive) }},
	} {
		if !want[p.name] || b.ctx.Err() != nil {
			continue
		}
		logf("starting %s", p.name)
		e, err := p.f()
		if err != nil {
			logf("%s: not measured: %v", p.name, err)
			res.Engines = append(res.Engines, EngineInfo{Name: p.name, Error: err.Error()})
			continue
		}
		b.add(e, nil)
	}
	res.Engines = append(b.infos, res.Engines...)
	if b.ctx.Err() != nil {
		return b.ctx.Err()
	}
	// Warm-up: one untimed run --rm per network and engine (first runs
	// create bridges, caches).
	for _, e := range b.engines {
		for _, n := range e.Networks {
			if _, err := e.RunRm(b.ctx, n); err != nil {
				logf("warm-up %s %s: %v", e.Name, n, err)
			}
		}
	}
	return b.ctx.Err()
}

// lockPath serialises bench runs on a host.
const lockPath = "/run/berth-bench.lock"

// lock takes the host-wide bench lock, waiting for another run to end.
func (b *Bench) lock() error {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		logf("another bench runs on this host (%s held): waiting for it to end", lockPath)
		done := make(chan error, 1)
		go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
		select {
		case err := <-done:
			if err != nil {
				f.Close()
				return err
			}
		case <-b.ctx.Done():
			f.Close()
			return b.ctx.Err()
		}
	}
	// Held until this process exits (the fd stays open).
	b.addCleanup("bench lock", func() error { return f.Close() })
	return nil
}

func (b *Bench) add(e *Engine, _ error) {
	b.engines = append(b.engines, e)
	b.infos = append(b.infos, EngineInfo{Name: e.Name, Version: e.Version, Parts: e.Extra, Notes: e.Notes})
}

// ensurePeers installs docker.io and podman from Debian when missing.
func (b *Bench) ensurePeers(want map[string]bool) {
	pkgs := map[string]string{"docker": "docker.io", "podman": "podman"}
	bins := map[string]string{"docker": "dockerd", "podman": "podman"}
	var missing []string
	for name, pkg := range pkgs {
		if !want[name] {
			continue
		}
		if _, err := exec.LookPath(bins[name]); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return
	}
	if b.flags.noInstall {
		logf("not installing %v (--no-install): those peers are skipped", missing)
	} else {
		logf("installing %v from Debian", missing)
		if missingPodman := contains(missing, "podman"); missingPodman {
			missing = append(missing, "netavark", "aardvark-dns", "conmon", "uidmap")
		}
		cmd := exec.CommandContext(b.ctx, "apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			logf("apt-get install: %v: %s", err, tail(string(out), 2000))
		}
	}
	for name := range pkgs {
		if _, err := exec.LookPath(bins[name]); err != nil {
			want[name] = false
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (b *Bench) writeRaw(res *Results) (string, error) {
	if err := os.MkdirAll(b.flags.out, 0o755); err != nil {
		return "", err
	}
	mode := "full"
	if res.Quick {
		mode = "quick"
	}
	path := filepath.Join(b.flags.out, res.Started.UTC().Format("20060102T150405Z")+"-"+mode+".raw.json")
	data, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o644)
}

func readResults(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	return &r, json.Unmarshal(data, &r)
}

func commandLine() string {
	args := os.Args[1:]
	s := "go run ./test/bench"
	if len(args) > 0 {
		s += " " + strings.Join(args, " ")
	}
	return s
}

func gitDescribe(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// machineInfo describes the host.
func machineInfo() map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				m["memory"] = strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:"))
			}
		}
	}
	m["kernel"] = version("uname", "-sr")
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		m["os"] = "Debian " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["load at start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	cg := "cgroup v1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cg = "cgroup v2"
	} else if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
		cg = "cgroup v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
	}
	m["cgroups"] = cg
	if fi, err := os.Stat("/tmp"); err == nil && fi.IsDir() {
		if out, err := exec.Command("findmnt", "-no", "FSTYPE", "-T", "/tmp").Output(); err == nil {
			m["/tmp file system"] = strings.TrimSpace(string(out))
		}
	}
	return m
}
