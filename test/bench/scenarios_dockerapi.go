package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// The docker CLI through berth's Docker Engine API (issue 16), beside the
// same docker CLI through dockerd and `berth run`, for the same commands.
// Series: "berth" is the docker CLI with DOCKER_HOST at berth's
// docker.sock (the subject), "berth CLI" is berth's own CLI on the same
// stack, "docker" is the docker CLI against the private dockerd. dockerd
// is skipped when it is not measured (--engines, or not installed).

const dockerAPIGroup = "Docker API (docker CLI through berth)"

const dockerAPIPsCount = 50

func init() {
	Register(Scenario{
		Name:   "docker-api/run-rm",
		Title:  "`docker run --rm busybox true`: docker CLI → berth's Docker API, `berth run --rm`, docker CLI → dockerd",
		Group:  dockerAPIGroup,
		Unit:   "ms",
		Order:  700,
		Target: &Target{Text: "≤ 0.5 × the docker CLI through dockerd (and ≤ 1.15 × `berth run --rm`, see note)", Peer: "docker", Ratio: 0.5},
		Run: func(env *Env) error {
			engines, ok := dockerAPIEngines(env, true)
			if !ok {
				return nil
			}
			err := env.RoundRobin(env.Reps, engines, func(_ int, e *Engine) error {
				d, err := e.Exec(env.Ctx, "run", "--rm", "busybox", "true")
				if err == nil {
					env.RecordDuration(e.Name, d)
				}
				return err
			})
			noteRatio(env, "berth CLI", 1.15)
			return err
		},
	})
	Register(Scenario{
		Name:   "docker-api/create-rm",
		Title:  "`docker create busybox true` then `docker rm` of it (both)",
		Group:  dockerAPIGroup,
		Unit:   "ms",
		Order:  701,
		Target: &Target{Text: "≤ dockerd's time", Peer: "docker", Ratio: 1},
		Run: func(env *Env) error {
			engines, ok := dockerAPIEngines(env, true)
			if !ok {
				return nil
			}
			return env.RoundRobin(env.Reps, engines, func(_ int, e *Engine) error {
				name := e.uniq(strings.ReplaceAll(e.Name, " ", "") + "-dac")
				d1, err := e.Exec(env.Ctx, "create", "--name", name, "busybox", "true")
				if err != nil {
					return err
				}
				d2, err := e.Exec(env.Ctx, "rm", name)
				if err == nil {
					env.RecordDuration(e.Name, d1+d2)
				}
				return err
			})
		},
	})
	Register(Scenario{
		Name:   "docker-api/ps",
		Title:  fmt.Sprintf("`docker ps -a` with %d containers", dockerAPIPsCount),
		Group:  dockerAPIGroup,
		Unit:   "ms",
		Order:  702,
		Target: &Target{Text: "≤ dockerd's time", Peer: "docker", Ratio: 1},
		Run:    runDockerAPIList,
	})
	Register(Scenario{
		Name:   "docker-api/logs",
		Title:  "`docker logs` of a container that wrote 100 MB to stdout (read to the end)",
		Group:  dockerAPIGroup,
		Unit:   "ms",
		Order:  703,
		Target: &Target{Text: "≤ dockerd's time", Peer: "docker", Ratio: 1},
		Run:    runDockerAPILogs,
	})
}

// dockerAPILogBytes is what the logs scenario's container writes: lines of
// 100 bytes.
const dockerAPILogBytes = 100 << 20

// runDockerAPILogs runs one container per engine that writes
// dockerAPILogBytes to stdout and exits, then times `logs` of it read to
// the end (the output is counted, not kept), 5 rounds (8 s or more each). max-size=200m: berth rotates
// at a smaller size by default, dockerd not at all.
func runDockerAPILogs(env *Env) error {
	engines, ok := dockerAPIEngines(env, false)
	if !ok {
		return nil
	}
	script := fmt.Sprintf("yes %s | head -c %d", strings.Repeat("x", 99), dockerAPILogBytes)
	var ready []*Engine
	names := map[string]string{}
	for _, e := range engines {
		name := e.uniq(e.Name + "-dal")
		if _, err := e.Exec(env.Ctx, "run", "-d", "--name", name, "--log-opt", "max-size=200m", "busybox", "sh", "-c", script); err != nil {
			env.Fail(e.Name, err)
			continue
		}
		names[e.Name] = name
		defer func() {
			if _, err := e.Exec(context.Background(), "rm", "-f", name); err != nil {
				logf("docker-api/logs: clean-up: %v", err)
			}
		}()
		if out, err := e.Output(env.Ctx, "wait", name); err != nil || strings.TrimSpace(out) != "0" {
			env.Fail(e.Name, fmt.Errorf("wait %s: exit %q: %v", name, strings.TrimSpace(out), err))
			continue
		}
		ready = append(ready, e)
	}
	return env.RoundRobin(env.RepsFor(5, 3), ready, func(_ int, e *Engine) error {
		cmd := e.cli(env.Ctx, "logs", names[e.Name])
		var n countWriter
		var errb strings.Builder
		cmd.Stdout, cmd.Stderr = &n, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("logs: %v: %s", err, tail(errb.String(), 800))
		}
		if n != dockerAPILogBytes {
			return fmt.Errorf("logs gave %d bytes, want %d", n, dockerAPILogBytes)
		}
		env.RecordDuration(e.Name, d)
		return nil
	})
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// dockerAPIEngines returns the engines of the Docker API scenarios: the
// docker CLI through berth ("berth"), berth's own CLI ("berth CLI", when
// withCLI) and the docker CLI through dockerd ("docker", when measured).
// It skips the scenario when the docker CLI is missing.
func dockerAPIEngines(env *Env, withCLI bool) ([]*Engine, bool) {
	docker, err := exec.LookPath("docker")
	if err != nil || env.Bench.stack == nil {
		env.Skip("no docker CLI on this machine (Debian's docker.io or docker-cli)")
		return nil, false
	}
	host := env.Bench.stack.DockerHost()
	engines := []*Engine{{
		Name: "berth",
		cli: func(ctx context.Context, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, docker, append([]string{"-H", host}, args...)...)
		},
	}}
	if b := env.Engine("berth"); withCLI && b != nil {
		engines = append(engines, &Engine{Name: "berth CLI", cli: b.cli})
	}
	if d := env.Engine("docker"); d != nil {
		engines = append(engines, d)
	} else {
		env.Note("dockerd not measured in this run: no figure to compare with")
	}
	env.Note("berth = the docker CLI (%s) with DOCKER_HOST=%s (berth's Docker API); docker = the same CLI against the private dockerd", version(docker, "--version"), "unix://<stack>/docker.sock")
	return engines, true
}

// noteRatio adds a note with berth's median over peer's and the goal.
func noteRatio(env *Env, peer string, goal float64) {
	b, p := env.result.seriesOf("berth"), env.result.seriesOf(peer)
	if b == nil || p == nil || len(b.Samples) == 0 || len(p.Samples) == 0 || p.Summary().Median == 0 {
		return
	}
	r := b.Summary().Median / p.Summary().Median
	verdict := "met"
	if r > goal {
		verdict = "missed"
	}
	env.Note("docker CLI through berth ÷ %s: %.2f (goal ≤ %.2f: %s)", peer, r, goal, verdict)
}

// runDockerAPIList creates dockerAPIPsCount containers (not started) on
// each engine, times `ps -a` and `inspect` of one of them round-robin, and
// removes them.
func runDockerAPIList(env *Env) error {
	engines, ok := dockerAPIEngines(env, false)
	if !ok {
		return nil
	}
	inspect := env.Also("docker-api/inspect", "`docker inspect` of one container", "ms", &Target{Text: "≤ dockerd's time", Peer: "docker", Ratio: 1})
	names := map[string][]string{}
	defer func() {
		for _, e := range engines {
			if len(names[e.Name]) > 0 {
				if _, err := e.Exec(context.Background(), append([]string{"rm", "-f"}, names[e.Name]...)...); err != nil {
					logf("docker-api/ps: clean-up: %v", err)
				}
			}
		}
	}()
	var ready []*Engine
	for _, e := range engines {
		var err error
		for k := 0; k < dockerAPIPsCount && err == nil; k++ {
			name := e.uniq(strings.ReplaceAll(e.Name, " ", "") + "-dap")
			if _, err = e.Exec(env.Ctx, "create", "--name", name, "busybox", "true"); err == nil {
				names[e.Name] = append(names[e.Name], name)
			}
		}
		if err != nil {
			env.Fail(e.Name, err)
			continue
		}
		ready = append(ready, e)
	}
	return env.RoundRobin(env.Reps, ready, func(_ int, e *Engine) error {
		out, err := e.Output(env.Ctx, "ps", "-aq")
		if err != nil {
			return err
		}
		if n := len(strings.Fields(out)); n < dockerAPIPsCount {
			return fmt.Errorf("ps -aq listed %d containers, want at least %d", n, dockerAPIPsCount)
		}
		d, err := e.Exec(env.Ctx, "ps", "-a")
		if err != nil {
			return err
		}
		env.RecordDuration(e.Name, d)
		d, err = e.Exec(env.Ctx, "inspect", names[e.Name][0])
		if err != nil {
			return err
		}
		inspect.RecordDuration(e.Name, d)
		return nil
	})
}
