package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/system"
)

func TestRunFlagsBecomeOneConfig(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# x\nFROMFILE=f\nHOME\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{createErr: errNoImage}
	res := berth(t, r, map[string]string{"HOME": "/home/u"},
		"run", "-e", "A=1", "-e", "B=x,y", "--env-file", envFile, "-l", "x=y", "--label", "z",
		"--restart", "on-failure:3", "-it", "--name", "web", "-w", "/srv", "-u", "nobody",
		"--hostname", "h1", "--stop-signal", "SIGINT", "--stop-timeout", "7",
		"--log-opt", "max-size=1m", "--log-opt", "max-file=2", "--runtime", "io.containerd.runc.v2",
		"busybox", "sh", "-c", "echo hi", "-e", "--rm")
	seven := 7
	want := container.Config{
		Name: "web", Image: "busybox",
		Cmd:           []string{"sh", "-c", "echo hi", "-e", "--rm"},
		Env:           []string{"FROMFILE=f", "HOME=/home/u", "A=1", "B=x,y"},
		WorkingDir:    "/srv",
		User:          "nobody",
		Hostname:      "h1",
		Labels:        map[string]string{"x": "y", "z": ""},
		Tty:           true,
		OpenStdin:     true,
		StopSignal:    "SIGINT",
		StopTimeout:   &seven,
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
		LogConfig:     container.LogConfig{MaxSize: 1 << 20, MaxFiles: 2},
		Runtime:       "io.containerd.runc.v2",
	}
	if !reflect.DeepEqual(r.created, want) {
		t.Errorf("config:\n got %+v\nwant %+v", r.created, want)
	}
	// An unknown image is berth's failure: 125, with the daemon's message.
	if res.code != 125 || !strings.HasPrefix(res.stderr, "berth: No such image: nope\nPull it (berth pull IMAGE)") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestRunEntrypointAndRm(t *testing.T) {
	r := &recorder{createErr: errNoImage}
	berth(t, r, nil, "run", "--rm", "--entrypoint", "", "busybox")
	if !r.created.AutoRemove || !r.created.EntrypointSet || r.created.Entrypoint != nil || r.created.Cmd != nil {
		t.Errorf("got %+v", r.created)
	}
	berth(t, r, nil, "create", "--entrypoint", "/bin/echo", "busybox", "hi")
	if !r.created.EntrypointSet || !reflect.DeepEqual(r.created.Entrypoint, []string{"/bin/echo"}) || !reflect.DeepEqual(r.created.Cmd, []string{"hi"}) {
		t.Errorf("got %+v", r.created)
	}
}

func TestUsageErrorsExit125(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"run", "--bogus", "busybox"},
		{"run", "--restart", "sometimes", "busybox"},
		{"run", "--rm", "--restart", "always", "busybox"},
		{"run", "--log-opt", "max-size", "busybox"},
		{"run", "--env-file", "/nonexistent/env", "busybox"},
		{"stop"},
		{"rename", "a"},
		{"logs", "--since", "yesterday", "web"},
		{"ps", "--format", "{{.ID"},
		{"inspect", "--type", "volume", "x"},
		{"completion", "fish"},
	} {
		r := &recorder{}
		res := berth(t, r, nil, args...)
		if res.code != 125 || !strings.HasPrefix(res.stderr, "berth: ") {
			t.Errorf("%q: exit %d, stderr %q", args, res.code, res.stderr)
		}
		if r.callList() != "" {
			t.Errorf("%q: reached the daemon: %s", args, r.callList())
		}
	}
}

func TestRunForegroundOrderAndExitCode(t *testing.T) {
	r := &recorder{output: "hi\n", exit: container.ExitStatus{ExitCode: 3}}
	res := berth(t, r, nil, "run", "busybox", "sh", "-c", "echo hi; exit 3")
	if res.code != 3 || res.stdout != "hi\n" || res.stderr != "" {
		t.Errorf("got %+v", res)
	}
	// The exit is waited for before attaching, and attached before start, so
	// neither output nor the exit can be missed.
	if got := r.callList(); got != "create wait next-exit attach start" {
		t.Errorf("calls: %s", got)
	}
}

func TestRunDetachPrintsID(t *testing.T) {
	r := &recorder{}
	res := berth(t, r, nil, "run", "-d", "busybox", "sleep", "1")
	if res.code != 0 || res.stdout != "0123456789abcdef0123456789abcdef\n" {
		t.Errorf("got %+v", res)
	}
	if got := r.callList(); got != "create start" {
		t.Errorf("calls: %s", got)
	}
}

func TestRunStartErrorExitCodes(t *testing.T) {
	for _, code := range []int{126, 127} {
		r := &recorder{startErr: &container.StartError{ExitCode: code, Err: errors.New(`exec: "nope": executable file not found in $PATH`)}}
		res := berth(t, r, nil, "run", "busybox", "nope")
		if res.code != code || !strings.HasPrefix(res.stderr, "berth: exec: ") {
			t.Errorf("code %d: got %+v", code, res)
		}
	}
	// A --rm container that never started is removed (no exit will do it).
	for _, args := range [][]string{{"run", "--rm", "busybox", "nope"}, {"run", "-d", "--rm", "busybox", "nope"}} {
		r := &recorder{startErr: &container.StartError{ExitCode: 127, Err: errors.New("not found")}}
		res := berth(t, r, nil, args...)
		if res.code != 127 || !strings.HasSuffix(r.callList(), "start rm 0123456789abcdef0123456789abcdef force=true") {
			t.Errorf("%q: exit %d, calls %s", args, res.code, r.callList())
		}
	}
}

func TestExitCodeMapping(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{notFound("x"), 1},
		{failed(notFound("x")), 125},
		{failed(&container.StartError{ExitCode: 127, Err: errors.New("not found")}), 127},
		{fmt.Errorf("wrapped: %w", &container.StartError{ExitCode: 126, Err: errors.New("permission denied")}), 126},
		{&ExitError{Code: 42}, 42},
		{failed(&ExitError{Code: 3}), 3},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("%v: got %d want %d", c.err, got, c.want)
		}
	}
	if m := Message(fmt.Errorf("dial: %w", errdefs.ErrUnavailable)); !strings.Contains(m, "Is berthd running?") {
		t.Errorf("no hint for an unreachable daemon: %q", m)
	}
	// berthd answered, containerd did not (being restarted): no "Is berthd running?".
	m := Message(&system.BackendUnavailableError{Err: fmt.Errorf("dial unix containerd.sock: %w", errdefs.ErrUnavailable)})
	if strings.Contains(m, "Is berthd running?") || !strings.Contains(m, "berthd is running, but containerd did not answer") {
		t.Errorf("hint for containerd down behind a running berthd: %q", m)
	}
	m = Message(&system.BackendUnavailableError{Backend: system.BackendSnapshotter, Err: fmt.Errorf("pull x: %w", errdefs.ErrUnavailable)})
	if !strings.Contains(m, "berthd is running, but berth-snapshotter did not answer") {
		t.Errorf("hint for berth-snapshotter down behind a running berthd: %q", m)
	}
	// Not named by berthd, but the error names the snapshotter's socket.
	m = Message(&system.BackendUnavailableError{Err: fmt.Errorf("build: dial unix /run/berth/snapshotter.sock: connect: connection refused: %w", errdefs.ErrUnavailable)})
	if !strings.Contains(m, "berthd is running, but berth-snapshotter did not answer") || strings.Contains(m, "containerd did not answer") {
		t.Errorf("hint for an error naming snapshotter.sock: %q", m)
	}
	// A cluster command whose etcd timed out (CI: a join on a busy
	// machine) is not blamed on containerd.
	m = Message(&system.BackendUnavailableError{Err: fmt.Errorf("promoting this node's etcd learner: rpc error: code = Unavailable desc = etcdserver: request timed out: %w", errdefs.ErrUnavailable)})
	if !strings.Contains(m, "berthd is running, but the cluster's etcd did not answer") || strings.Contains(m, "containerd did not answer") {
		t.Errorf("hint for an etcd server error: %q", m)
	}
	if m := Message(&ExitError{Code: 2}); m != "" {
		t.Errorf("bare exit code printed %q", m)
	}
}

func TestMissingSocketHint(t *testing.T) {
	res := berth(t, &recorder{}, nil, "-H", "unix:///nonexistent/berth.sock", "ps")
	if res.code != 1 || !strings.Contains(res.stderr, "cannot connect to berthd at unix:///nonexistent/berth.sock") || !strings.Contains(res.stderr, "Is berthd running?") {
		t.Errorf("got %+v", res)
	}
}

func TestMultiContainerCommands(t *testing.T) {
	r := &recorder{}
	res := berth(t, r, nil, "stop", "-t", "2", "-s", "SIGINT", "web", "missing", "db")
	if res.code != 1 || res.stdout != "web\ndb\n" || res.stderr != "berth: No such container: missing\n" {
		t.Errorf("got %+v", res)
	}
	if r.stopOpts.Timeout == nil || *r.stopOpts.Timeout != 2*time.Second || r.stopOpts.Signal != "SIGINT" {
		t.Errorf("stop options %+v", r.stopOpts)
	}
	r = &recorder{}
	berth(t, r, nil, "stop", "web")
	if r.stopOpts.Timeout != nil {
		t.Errorf("default timeout sent: %v", *r.stopOpts.Timeout)
	}
	r = &recorder{}
	res = berth(t, r, nil, "rm", "-f", "a", "b")
	// Several names are worked on at once: any order of the calls, the
	// output in the order given.
	if calls := r.callList(); res.code != 0 || res.stdout != "a\nb\n" ||
		(calls != "rm a force=true rm b force=true" && calls != "rm b force=true rm a force=true") {
		t.Errorf("got %+v, calls %s", res, calls)
	}
	r = &recorder{}
	berth(t, r, nil, "kill", "-s", "HUP", "web")
	if r.callList() != "kill web HUP" {
		t.Errorf("calls %s", r.callList())
	}
}

func TestPs(t *testing.T) {
	r := &recorder{summaries: []container.Summary{
		{ID: "aaaaaaaaaaaaaaaaaaaa", Names: []string{"/web"}, Image: "busybox", Command: "httpd -f -p 8080 -h /www", Created: testNow.Add(-time.Hour),
			State: "running", Status: "Up 59 minutes", Labels: map[string]string{"b": "2", "a": "1"}},
		{ID: "bbbbbbbbbbbbbbbbbbbb", Names: []string{"job"}, Image: "busybox", Command: "true", Created: testNow.Add(-3 * time.Minute),
			State: "exited", ExitCode: 1, FinishedAt: testNow.Add(-2 * time.Second)},
	}}
	res := berth(t, r, nil, "ps", "-a")
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if res.code != 0 || len(lines) != 3 {
		t.Fatalf("got %+v", res)
	}
	for _, col := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %s", lines[0], col)
		}
	}
	if f := strings.Fields(lines[1]); f[0] != "aaaaaaaaaaaa" || !strings.Contains(lines[1], `"httpd -f -p 8080 -h…"`) || f[len(f)-1] != "web" || !strings.Contains(lines[1], "About an hour ago") {
		t.Errorf("row %q", lines[1])
	}
	if !strings.Contains(lines[2], "Exited (1) 2 seconds ago") || !strings.HasSuffix(lines[2], "job") {
		t.Errorf("row %q", lines[2])
	}
	// Columns line up: every row's NAMES starts where the header's does.
	at := strings.Index(lines[0], "NAMES")
	for _, l := range lines[1:] {
		if l := []rune(l); len(l) < at || l[at-1] != ' ' || l[at] == ' ' {
			t.Errorf("misaligned row %q (NAMES at %d)", l, at)
		}
	}
	if !r.listOpts.All {
		t.Error("-a not passed")
	}

	res = berth(t, r, nil, "ps", "-q", "--no-trunc", "--filter", "status=exited", "-n", "2")
	if res.stdout != "aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\n" {
		t.Errorf("-q: %q", res.stdout)
	}
	if !reflect.DeepEqual(r.listOpts, container.ListOptions{All: true, Limit: 2, Filters: map[string][]string{"status": {"exited"}}}) {
		t.Errorf("list options %+v", r.listOpts)
	}
	res = berth(t, r, nil, "ps", "--format", `{{.Names}} {{.Labels}} {{.Label "a"}} {{.State}}`)
	if res.stdout != "web a=1,b=2 1 running\njob   exited\n" {
		t.Errorf("format: %q", res.stdout)
	}
	res = berth(t, r, nil, "ps", "--format", `{{json .}}`)
	if !strings.HasPrefix(res.stdout, `{"Command":"\"httpd -f -p 8080 -h…\"","CreatedAt":`) {
		t.Errorf("json: %q", res.stdout)
	}
}

func TestLogsOptionsAndStreams(t *testing.T) {
	r := &recorder{}
	res := berth(t, r, nil, "logs", "-f", "--tail", "5", "--since", "10m", "--until", "2026-05-01T11:59:00Z", "-t", "web")
	want := container.LogOptions{Follow: true, Tail: 5, Since: testNow.Add(-10 * time.Minute),
		Until: time.Date(2026, 5, 1, 11, 59, 0, 0, time.UTC), Stdout: true, Stderr: true, Timestamps: true}
	if !reflect.DeepEqual(r.logOpts, want) {
		t.Errorf("options:\n got %+v\nwant %+v", r.logOpts, want)
	}
	if res.stdout != "2026-01-02T03:04:05.000000006Z out\n" || res.stderr != "2026-01-02T03:04:05.000000006Z err\n" {
		t.Errorf("got %+v", res)
	}
	berth(t, r, nil, "logs", "web")
	if r.logOpts.Tail != -1 || r.logOpts.Follow || !r.logOpts.Since.IsZero() {
		t.Errorf("defaults %+v", r.logOpts)
	}
}

func TestInspectContainersAndMissing(t *testing.T) {
	r := &recorder{inspect: map[string]*container.Container{
		"web": {ID: "abc", Name: "web", State: container.State{Status: "running", Running: true}},
	}}
	res := berth(t, r, nil, "inspect", "--type", "container", "web", "nope")
	if res.code != 1 || res.stderr != "berth: No such container: nope\n" {
		t.Errorf("got %+v", res)
	}
	// Docker's shape: Id, HostConfig, the top-level NetworkSettings.IPAddress.
	for _, want := range []string{`"Id": "abc",`, `"HostConfig": {`, `"IPAddress": ""`, `"Name": "no"`} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %s: %q", want, res.stdout)
		}
	}
	res = berth(t, r, nil, "inspect", "-f", "{{.State.Status}} {{.Name}}", "web")
	if res.code != 0 || res.stdout != "running web\n" {
		t.Errorf("got %+v", res)
	}
	res = berth(t, r, nil, "inspect", "gone")
	if res.code != 1 || res.stdout != "[]\n" || res.stderr != "berth: No such object: gone\n" {
		t.Errorf("got %+v", res)
	}
}

func TestExec(t *testing.T) {
	r := &recorder{execCode: 7}
	res := berth(t, r, map[string]string{"X": "from-host"}, "exec", "-i", "-e", "A=1", "-e", "X", "-w", "/tmp", "-u", "1000", "web", "sh", "-c", "exit 7")
	want := container.ExecConfig{Cmd: []string{"sh", "-c", "exit 7"}, Env: []string{"A=1", "X=from-host"}, WorkingDir: "/tmp", User: "1000",
		AttachStdin: true, AttachStdout: true, AttachStderr: true}
	if !reflect.DeepEqual(r.execCfg, want) {
		t.Errorf("config:\n got %+v\nwant %+v", r.execCfg, want)
	}
	if res.code != 7 || res.stderr != "" {
		t.Errorf("got %+v", res)
	}
	r = &recorder{startErr: &container.StartError{ExitCode: 127, Err: errors.New("nope: not found")}}
	if res := berth(t, r, nil, "exec", "web", "nope"); res.code != 127 {
		t.Errorf("got %+v", res)
	}
}

func TestEventsAndTop(t *testing.T) {
	r := &recorder{events: []events.Message{{Type: "container", Action: "start", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "busybox"}}}}}
	res := berth(t, r, nil, "events", "--since", "1h", "--until", "0s", "--filter", "event=start", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if res.code != 0 || res.stdout != "start web\n" {
		t.Errorf("got %+v", res)
	}
	if !r.evFilter.Since.Equal(testNow.Add(-time.Hour)) || !r.evFilter.Until.Equal(testNow) || r.evFilter.Filters["event"][0] != "start" {
		t.Errorf("filter %+v", r.evFilter)
	}
	if got := EventLine(r.events[0]); !strings.HasSuffix(got, " container start abc (image=busybox, name=web)") {
		t.Errorf("line %q", got)
	}
	res = berth(t, r, nil, "top", "web")
	if res.stdout != "PID       CMD\n1         sh\n20        sleep 100\n" {
		t.Errorf("top %q", res.stdout)
	}
}

func TestHelpTeaches(t *testing.T) {
	r := &recorder{}
	e := &Env{}
	for _, c := range allCommands(e) {
		if c.Usage == "" || (c.UsageText == "" && c.Subcommands == nil) {
			t.Errorf("%s: no usage", c.Name)
		}
		if c.Subcommands == nil && !strings.Contains(c.Description, "berth ") {
			t.Errorf("%s: no example in the description", c.Name)
		}
	}
	res := berth(t, r, nil, "run", "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]") || !strings.Contains(res.stdout, "--restart") {
		t.Errorf("got %+v", res)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh"} {
		res := berth(t, &recorder{}, nil, "completion", sh)
		if res.code != 0 || !strings.Contains(res.stdout, "--generate-bash-completion") {
			t.Errorf("%s: %+v", sh, res)
		}
	}
	r := &recorder{summaries: []container.Summary{{Names: []string{"/web"}}, {Names: []string{"db"}}}}
	res := berth(t, r, nil, "stop", "--generate-bash-completion")
	if res.stdout != "web\ndb\n" {
		t.Errorf("container names: %q", res.stdout)
	}
	res = berth(t, r, nil, "run", "--stop-", "--generate-bash-completion")
	if res.code != 0 || res.stdout != "--stop-signal\n--stop-timeout\n" {
		t.Errorf("flags: %+v", res)
	}
	res = berth(t, r, nil, "image", "ls", "--d", "--generate-bash-completion")
	if res.code != 0 || res.stdout != "--digests\n" {
		t.Errorf("subcommand flags: %+v", res)
	}
}
