package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// `compose up -d` and `compose down` of a 5-service project (images
// present, no healthchecks): berth compose against docker compose with
// dockerd, in the same run. docker compose is the one make deps builds
// into $(LIBEXEC)/tools/cli-plugins, or docker's own plugin.

const composeServices = 5

func init() {
	target := &Target{Text: "≤ 0.5 × Docker's median", Peer: "docker", Ratio: 0.5}
	Register(Scenario{
		Name:   "compose/up",
		Title:  fmt.Sprintf("`compose up -d` of a %d-service project (images present, no healthchecks)", composeServices),
		Group:  "Compose",
		Unit:   "ms",
		Order:  250,
		Target: target,
		Run:    runCompose,
	})
}

// dockerCompose finds the docker compose binary: the one make deps builds
// into berth's tools, else docker's plugin; "" when there is none.
func dockerCompose() string {
	libexec := os.Getenv("BERTH_LIBEXEC")
	if libexec == "" {
		libexec = "/usr/local/lib/berth"
	}
	for _, p := range []string{
		filepath.Join(libexec, "tools", "cli-plugins", "docker-compose"),
		"/usr/local/lib/docker/cli-plugins/docker-compose",
		"/usr/libexec/docker/cli-plugins/docker-compose",
	} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func runCompose(env *Env) error {
	down := env.Also("compose/down", fmt.Sprintf("`compose down` of the %d-service project", composeServices), "ms",
		&Target{Text: "≤ 0.5 × Docker's median", Peer: "docker", Ratio: 0.5})
	var engines []*Engine
	for _, e := range env.Engines {
		if e.compose != nil {
			engines = append(engines, e)
		} else if e.Name == "docker" {
			env.Note("docker: no docker compose binary found (make deps builds one into $(LIBEXEC)/tools/cli-plugins)")
		}
	}
	if len(engines) == 0 || engines[0].Name != "berth" {
		env.Skip("berth compose is not available")
		return nil
	}
	dir, err := os.MkdirTemp("", "bench-compose-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var y strings.Builder
	y.WriteString("name: benchcompose\nservices:\n")
	for i := 1; i <= composeServices; i++ {
		// SIGKILL: sleep as PID 1 ignores SIGTERM, and both engines
		// would wait out the stop timeout.
		fmt.Fprintf(&y, "  s%d:\n    image: busybox\n    command: [sleep, \"3600\"]\n    stop_signal: SIGKILL\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(y.String()), 0o644); err != nil {
		return err
	}
	run := func(e *Engine, args ...string) (time.Duration, error) {
		cmd := e.compose(env.Ctx, append([]string{"-f", filepath.Join(dir, "compose.yaml")}, args...)...)
		cmd.Dir = dir
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return d, nil
	}
	return env.RoundRobin(env.RepsFor(10, 3), engines, func(i int, e *Engine) error {
		up, err := run(e, "up", "-d")
		if err != nil {
			_, _ = run(e, "down")
			return err
		}
		dn, err := run(e, "down")
		if err != nil {
			return err
		}
		env.RecordDuration(e.Name, up)
		down.RecordDuration(e.Name, dn)
		return nil
	})
}
