package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Rebuilds of an 8-step Dockerfile with a ~10 MB context: nothing changed,
// and one file changed before the last step. berth build against docker
// build with BuildKit (buildx's docker driver, the plugin make deps
// builds) on the same machine in the same run. Also berth-buildkitd's
// resident memory once the builds are done (berthd's own stays as it is:
// the builder is a separate process, stopped when idle).

func init() {
	Register(Scenario{
		Name:   "build/rebuild",
		Title:  "Rebuild, nothing changed (8 steps, 10 MB context)",
		Group:  "Images",
		Unit:   "ms",
		Order:  500,
		Target: &Target{Text: "≤ 150 ms and ≤ 0.25 × Docker's median", Peer: "docker", Ratio: 0.25},
		Run:    runBuildBench,
	})
}

// dockerBuildx finds the buildx plugin: the one make deps builds into
// berth's tools, else docker's own.
func dockerBuildx() string {
	libexec := os.Getenv("BERTH_LIBEXEC")
	if libexec == "" {
		libexec = "/usr/local/lib/berth"
	}
	for _, p := range []string{
		filepath.Join(libexec, "tools", "cli-plugins", "docker-buildx"),
		"/usr/local/lib/docker/cli-plugins/docker-buildx",
		"/usr/libexec/docker/cli-plugins/docker-buildx",
	} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func runBuildBench(env *Env) error {
	changed := env.Also("build/rebuild-changed", "Rebuild, one file changed before the last step", "ms",
		&Target{Text: "≤ 600 ms and ≤ 0.5 × Docker's median", Peer: "docker", Ratio: 0.5})
	rss := env.Also("build/builder-rss", "berth-buildkitd resident memory after the builds", "MB", nil)
	berth := env.Engine("berth")
	if berth == nil {
		env.Skip("berth not measured")
		return nil
	}
	dir, err := os.MkdirTemp("", "bench-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	big := make([]byte, 10<<20)
	_, _ = rand.Read(big)
	files := map[string][]byte{
		"big.bin":  big,
		"app.txt":  []byte("app\n"),
		"last.txt": []byte("0\n"),
		"Dockerfile": []byte(`FROM busybox
COPY big.bin /big.bin
RUN md5sum /big.bin > /big.md5
COPY app.txt /app/app.txt
RUN echo step4 > /s4
RUN echo step5 > /s5
RUN echo step6 > /s6
COPY last.txt /last.txt
`),
	}
	// A context per engine: one's change is not the other's.
	ctxDir := func(engine string) (string, error) {
		d := filepath.Join(dir, engine)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				return "", err
			}
		}
		return d, nil
	}
	// One builder per engine: berth's CLI, docker's buildx plugin with
	// dockerd's BuildKit.
	type builder struct {
		e   *Engine
		dir string
		cmd func(ctx context.Context, tag string) *exec.Cmd
	}
	bdir, err := ctxDir("berth")
	if err != nil {
		return err
	}
	builders := []builder{{berth, bdir, func(ctx context.Context, tag string) *exec.Cmd {
		return berth.cli(ctx, "build", "-q", "-t", tag, bdir)
	}}}
	if d := env.Engine("docker"); d != nil {
		if bx := dockerBuildx(); bx != "" {
			host := d.cli(env.Ctx).Args[2] // docker -H unix://…
			ddir, err := ctxDir("docker")
			if err != nil {
				return err
			}
			builders = append(builders, builder{d, ddir, func(ctx context.Context, tag string) *exec.Cmd {
				cmd := exec.CommandContext(ctx, bx, "build", "-q", "--load", "-t", tag, ddir)
				cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
				return cmd
			}})
		} else {
			env.Note("docker: no buildx plugin found (make deps builds one): docker build not measured")
		}
	}
	build := func(b builder) (time.Duration, error) {
		cmd := b.cmd(env.Ctx, "bench-build:1")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%s build: %v\n%s", b.e.Name, err, out)
		}
		return time.Since(start), nil
	}
	var engines []*Engine
	for _, b := range builders {
		// The cold build, not measured: it fills the cache.
		if _, err := build(b); err != nil {
			env.Fail(b.e.Name, err)
			continue
		}
		engines = append(engines, b.e)
	}
	byName := map[string]builder{}
	for _, b := range builders {
		byName[b.e.Name] = b
	}
	n := 0
	err = env.RoundRobin(env.RepsFor(20, 3), engines, func(i int, e *Engine) error {
		b := byName[e.Name]
		d, err := build(b)
		if err != nil {
			return err
		}
		env.RecordDuration(e.Name, d)
		n++
		if err := os.WriteFile(filepath.Join(b.dir, "last.txt"), []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
			return err
		}
		d, err = build(b)
		if err != nil {
			return err
		}
		changed.RecordDuration(e.Name, d)
		return nil
	})
	if pid := builderPID(env); pid > 0 {
		r, _ := memKB(pid)
		rss.Record("berth", float64(r)/1024)
	}
	return err
}

// builderPID is the berth stack's berth-buildkitd, 0 if it is not running.
func builderPID(env *Env) int {
	if env.Bench.stack == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(env.Bench.stack.State(), "buildkit", "berth-buildkitd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
