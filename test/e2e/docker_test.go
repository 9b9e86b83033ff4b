package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"

	"github.com/berthproject/berth/test/harness"
)

// dockerBin is the docker CLI the Docker API tests drive: $BERTH_DOCKER,
// else docker on $PATH, else the one make deps builds into
// $BERTH_LIBEXEC/tools on a machine that has none.
func dockerBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_DOCKER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("docker"); err == nil {
		return p
	}
	libexec := os.Getenv(harness.EnvLibexec)
	if libexec == "" {
		libexec = "/usr/local/lib/berth"
	}
	if p := filepath.Join(libexec, "tools", "docker"); fileExists(p) {
		return p
	}
	t.Skip("no docker CLI on $PATH nor in $BERTH_LIBEXEC/tools: run `make deps` (it builds one) or set BERTH_DOCKER")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// dockerCLI is a cli that runs the unmodified docker CLI against the
// stack's Docker API, with a private config dir.
func dockerCLI(t *testing.T, s *harness.Stack, bin, configDir string) cli {
	return cli{t: t, s: s, command: func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+s.DockerHost(), "DOCKER_CONFIG="+configDir,
			"DOCKER_CLI_HINTS=false", "DOCKER_BUILDKIT=0")
		return cmd
	}}
}

// TestDockerCLI drives berth's Docker Engine API with the real docker CLI
// through the scenarios users run every day.
func TestDockerCLI(t *testing.T) {
	bin := dockerBin(t)
	s := harness.Start(t)
	s.LoadBusybox()
	loadVolImage(t, s)
	cfgDir := t.TempDir()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, d cli)
	}{
		{"Version", testDockerVersion},
		{"RunRm", testDockerRunRm},
		{"RunPublish", testDockerRunPublish},
		{"RunInteractive", testDockerRunInteractive},
		{"Exec", testDockerExec},
		{"LogsFollow", testDockerLogsFollow},
		{"LogsBacklog", testDockerLogsBacklog},
		{"Cp", testDockerCp},
		{"StatsPs", testDockerStatsPs},
		{"NetworkDNS", testDockerNetworkDNS},
		{"NetworkIPv6", testDockerNetworkIPv6},
		{"Volume", testDockerVolume},
		{"SaveLoad", testDockerSaveLoad},
		{"Events", testDockerEvents},
		{"SystemDf", testDockerSystemDf},
		{"Inspect", testDockerInspect},
		{"Errors", testDockerErrors},
		{"Prune", testDockerPrune},
		{"NamespacesInit", testDockerNamespacesInit},
		{"DeviceThrottle", testDockerDeviceThrottle},
		{"UpdatePidsLimit", testDockerUpdatePidsLimit},
		{"VolumeSubpath", testVolumeSubpath},
		{"ImageMount", testImageMount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, dockerCLI(t, s, bin, cfgDir))
		})
	}
	t.Run("Registry", func(t *testing.T) {
		testDockerRegistry(t, dockerCLI(t, s, bin, t.TempDir()))
	})
}

func testDockerVersion(t *testing.T, d cli) {
	out := d.ok("version", "--format", "{{.Server.Platform.Name}} {{.Server.APIVersion}} {{.Server.Os}}")
	if out != "berth 1.50 linux" {
		t.Errorf("docker version: %q", out)
	}
	if out := d.ok("info", "--format", "{{.Swarm.LocalNodeState}} {{.OSType}} {{.LoggingDriver}}"); out != "inactive linux json-file" {
		t.Errorf("docker info: %q", out)
	}
}

func testDockerRunRm(t *testing.T, d cli) {
	n := d.name("drm")
	if out := d.ok("run", "--rm", "--name", n, "busybox", "echo", "hi"); out != "hi" {
		t.Errorf("docker run --rm: %q", out)
	}
	if d.exists(n) {
		t.Errorf("--rm container %s still exists", n)
	}
	r := d.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.out() != "out" || strings.TrimSpace(r.stderr) != "err" {
		t.Errorf("exit code and streams: %s", r)
	}
	// stdin piped through attach: the client's half-close ends cat, its
	// output still arrives.
	if out := d.runIn(strings.NewReader("line one\nline two\n"), "run", "--rm", "-i", "busybox", "cat").out(); out != "line one\nline two" {
		t.Errorf("docker run -i with piped stdin: %q", out)
	}
	// A command that does not exist: Docker's 127.
	r = d.run("run", "--rm", "busybox", "no-such-command")
	if r.code != 127 {
		t.Errorf("missing command: %s", r)
	}
}

func testDockerRunPublish(t *testing.T, d cli) {
	n := d.name("dweb")
	d.ok("run", "-d", "--name", n, "-p", "127.0.0.1::80", "busybox",
		"sh", "-c", "mkdir /www && echo hello from berth > /www/index.html && exec httpd -f -p 80 -h /www")
	port := d.ok("inspect", "-f", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, n)
	if out := d.ok("port", n, "80"); out != "127.0.0.1:"+port {
		t.Errorf("docker port: %q, want 127.0.0.1:%s", out, port)
	}
	var body string
	eventually(t, 30*time.Second, "the published port to answer", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if strings.TrimSpace(body) != "hello from berth" {
		t.Errorf("HTTP body %q", body)
	}
	if out := d.ok("ps", "--filter", "name="+n, "--format", "{{.Names}} {{.Ports}}"); out != n+" 127.0.0.1:"+port+"->80/tcp" {
		t.Errorf("docker ps ports: %q", out)
	}
	d.ok("stop", "-t", "1", n)
	if st := d.inspect(n, "{{.State.Status}}"); st != "exited" {
		t.Errorf("after stop: %s", st)
	}
}

func testDockerRunInteractive(t *testing.T, d cli) {
	n := d.name("dit")
	tm := d.startTerminal(console.WinSize{Height: 30, Width: 100}, "run", "-it", "--name", n, "busybox", "sh")
	tm.typeIn("stty size; echo $((6*7))\r")
	at := tm.waitFor(0, "30 100")
	tm.waitFor(at, "42")
	tm.typeIn("exit 7\r")
	if code := tm.wait(); code != 7 {
		t.Errorf("docker run -it exit code %d; terminal:\n%q", code, tm.output())
	}
}

func testDockerExec(t *testing.T, d cli) {
	n := d.name("dexec")
	d.ok("run", "-d", "--name", n, "busybox", "sleep", "600")
	if out := d.ok("exec", n, "sh", "-c", "echo $((1+2)); echo e >&2"); out != "3" {
		t.Errorf("docker exec: %q", out)
	}
	if r := d.run("exec", n, "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec exit code: %s", r)
	}
	// A command that cannot run: exit 127 or 126 as with dockerd (the
	// exec's inspect), the reason on stdout.
	if r := d.run("exec", n, "nonexistent"); r.code != 127 || !strings.Contains(r.stdout, "not found") {
		t.Errorf("docker exec of a missing command: %s, want exit 127", r)
	}
	if r := d.run("exec", n, "/etc"); r.code != 126 {
		t.Errorf("docker exec of a directory: %s, want exit 126", r)
	}
	if out := d.runIn(strings.NewReader("piped\n"), "exec", "-i", n, "cat").out(); out != "piped" {
		t.Errorf("docker exec -i: %q", out)
	}
	tm := d.startTerminal(console.WinSize{Height: 33, Width: 77}, "exec", "-it", n, "sh")
	tm.typeIn("stty size\r")
	tm.waitFor(0, "33 77")
	tm.typeIn("exit 4\r")
	if code := tm.wait(); code != 4 {
		t.Errorf("docker exec -it exit code %d", code)
	}
	d.ok("exec", "-d", n, "sh", "-c", "echo detached > /tmp/bg")
	eventually(t, 30*time.Second, "the detached exec to run", func() bool {
		return d.run("exec", n, "cat", "/tmp/bg").out() == "detached"
	})
	if out := d.ok("top", n); !strings.Contains(out, "sleep 600") {
		t.Errorf("docker top: %q", out)
	}
}

func testDockerLogsFollow(t *testing.T, d cli) {
	n := d.name("dlogs")
	d.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"echo one; echo two >&2; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo three")
	st := d.start("logs", "-f", n)
	eventually(t, 30*time.Second, "logs -f to show the first line", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return strings.Contains(st.out.String(), "one")
	})
	d.ok("exec", n, "touch", "/tmp/go")
	select {
	case <-st.done:
	case <-time.After(30 * time.Second):
		t.Fatal("docker logs -f did not end when the container exited")
	}
	st.mu.Lock()
	out, errOut := st.out.String(), st.errb.String()
	st.mu.Unlock()
	if out != "one\nthree\n" || errOut != "two\n" {
		t.Errorf("logs -f: stdout %q stderr %q", out, errOut)
	}
	if out := d.ok("logs", "--tail", "1", n); out != "three" {
		t.Errorf("logs --tail 1: %q", out)
	}
	ts := d.ok("logs", "-t", n)
	if f := strings.Fields(strings.Split(ts, "\n")[0]); len(f) != 2 || f[1] != "one" {
		t.Errorf("logs -t: %q", ts)
	} else if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
		t.Errorf("logs -t timestamp %q: %v", f[0], err)
	}
}

// testDockerLogsBacklog reads a log of 100,000 lines back, whole and
// followed: berth sends it in large writes instead of one per line, and
// no line may be lost, doubled or moved.
func testDockerLogsBacklog(t *testing.T, d cli) {
	n := d.name("dbacklog")
	d.ok("run", "-d", "--name", n, "busybox", "sh", "-c", "seq 1 50000; seq 50001 100000 >&2")
	if code := d.ok("wait", n); code != "0" {
		t.Fatalf("docker wait: %q", code)
	}
	var wantOut, wantErr strings.Builder
	for i := 1; i <= 100000; i++ {
		w := &wantOut
		if i > 50000 {
			w = &wantErr
		}
		fmt.Fprintf(w, "%d\n", i)
	}
	for _, args := range [][]string{{"logs", n}, {"logs", "-f", n}} {
		r := d.run(args...)
		if r.code != 0 || r.stdout != wantOut.String() || r.stderr != wantErr.String() {
			t.Errorf("docker %s: exit code %d, %d bytes of stdout (want %d), %d of stderr (want %d); stdout ends %q, stderr ends %q",
				strings.Join(args, " "), r.code, len(r.stdout), wantOut.Len(), len(r.stderr), wantErr.Len(),
				r.stdout[max(0, len(r.stdout)-40):], r.stderr[max(0, len(r.stderr)-40):])
		}
	}
	if r := d.run("logs", "--tail", "2", n); r.code != 0 || r.stdout != "" || r.stderr != "99999\n100000\n" {
		t.Errorf("logs --tail 2: %s", r)
	}
}

func testDockerCp(t *testing.T, d cli) {
	n := d.name("dcp")
	d.ok("run", "-d", "--name", n, "busybox", "sleep", "600")
	dir := t.TempDir()
	src := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(src, []byte("to the container\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("cp", src, n+":/tmp/")
	if out := d.ok("exec", n, "cat", "/tmp/in.txt"); out != "to the container" {
		t.Errorf("cp into the container: %q", out)
	}
	d.ok("exec", n, "sh", "-c", "mkdir -p /data/sub && echo from the container > /data/sub/f")
	d.ok("cp", n+":/data", filepath.Join(dir, "out"))
	b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "f"))
	if err != nil || string(b) != "from the container\n" {
		t.Errorf("cp out of the container: %q %v", b, err)
	}
	d.fails(1, []string{"Could not find the file /nope"}, "cp", n+":/nope", dir)
}

func testDockerStatsPs(t *testing.T, d cli) {
	n := d.name("dstats")
	d.ok("run", "-d", "--name", n, "--label", "suite=docker", "busybox", "sleep", "600")
	out := d.ok("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", n)
	if f := strings.Fields(out); len(f) < 2 || f[0] != n || f[len(f)-1] != "1" {
		t.Errorf("docker stats --no-stream: %q", out)
	}
	ps := d.ok("ps", "--filter", "label=suite=docker", "--filter", "name="+n, "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}")
	if ps != n+`|busybox|"sleep 600"|running` {
		t.Errorf("docker ps --format: %q", ps)
	}
	// ps --size: the writable layer (the 2 MB written) and the image under it.
	d.ok("exec", n, "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=2")
	if sz := d.ok("ps", "-s", "--filter", "name="+n, "--format", "{{.Size}}"); !strings.HasPrefix(sz, "2.1") || !strings.Contains(sz, "MB (virtual ") {
		t.Errorf("docker ps --size: %q, want 2.1MB (virtual …)", sz)
	}
	if sz := d.ok("inspect", "--size", "--format", "{{.SizeRw}}", n); sz == "" || sz == "0" || sz == "<nil>" {
		t.Errorf("docker inspect --size: SizeRw %q", sz)
	}
	d.ok("pause", n)
	if st := d.inspect(n, "{{.State.Status}}"); st != "paused" {
		t.Errorf("after pause: %s", st)
	}
	d.ok("unpause", n)
	d.ok("rename", n, n+"-new")
	d.cleanup(n + "-new")
	d.ok("kill", n+"-new")
	if ps := d.ok("ps", "-a", "--filter", "name="+n+"-new", "--format", "{{.State}}"); ps != "exited" {
		t.Errorf("after kill: %q", ps)
	}
	// update --restart changes the restart policy; an --rm container
	// refuses one, with dockerd's message.
	u := d.name("dupd")
	d.ok("create", "--name", u, "busybox", "true")
	d.ok("update", "--restart", "on-failure:2", "--memory", "64m", u)
	if p := d.inspect(u, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}}"); p != "on-failure:2 67108864" {
		t.Errorf("after update --restart: %q", p)
	}
	rm := d.name("dupdrm")
	d.ok("create", "--rm", "--name", rm, "busybox", "true")
	d.fails(1, []string{"Restart policy cannot be updated because AutoRemove is enabled for the container"}, "update", "--restart", "always", rm)
}

// testDockerUpdatePidsLimit: update --pids-limit as dockerd's: 0 or a
// negative value lifts the limit, and inspect shows 0 (the cgroup: max).
func testDockerUpdatePidsLimit(t *testing.T, d cli) {
	n := d.name("dpids")
	d.cleanup(n)
	d.ok("run", "-d", "--name", n, "--pids-limit", "32", "busybox", "sleep", "600")
	pidsMax := func() string {
		return d.ok("exec", n, "sh", "-c", "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max")
	}
	if got, limit := d.inspect(n, "{{.HostConfig.PidsLimit}}"), pidsMax(); got != "32" || limit != "32" {
		t.Errorf("run --pids-limit 32: inspect %s, pids.max %s", got, limit)
	}
	for _, v := range []string{"-1", "-2"} {
		d.ok("update", "--pids-limit", "16", n)
		d.ok("update", "--pids-limit", v, n)
		if got, limit := d.inspect(n, "{{.HostConfig.PidsLimit}}"), pidsMax(); got != "0" || limit != "max" {
			t.Errorf("update --pids-limit %s: inspect %s, pids.max %s; want 0 and max", v, got, limit)
		}
	}
}

func testDockerNetworkDNS(t *testing.T, d cli) {
	net := d.name("dnet")
	d.ok("network", "create", net)
	t.Cleanup(func() { d.run("network", "rm", net) })
	srv := d.name("dsrv")
	d.ok("run", "-d", "--name", srv, "--network", net, "--network-alias", "db", "--hostname", "dbhost", "busybox", "sleep", "600")
	ip := d.inspect(srv, "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}")
	// Its hostname resolves too, as under dockerd.
	for _, name := range []string{srv, "db", "dbhost"} {
		out := d.ok("run", "--rm", "--network", net, "busybox", "nslookup", name)
		if !strings.Contains(out, ip) {
			t.Errorf("nslookup %s on %s: want %s in %q", name, net, ip, out)
		}
	}
	if ls := d.ok("network", "ls", "--filter", "name="+net, "--format", "{{.Name}} {{.Driver}}"); ls != net+" bridge" {
		t.Errorf("network ls: %q", ls)
	}
	d.fails(1, []string{"has active endpoints"}, "network", "rm", net)
	net2 := d.name("dnet2")
	d.ok("network", "create", net2)
	t.Cleanup(func() { d.run("network", "rm", net2) })
	d.ok("network", "connect", net2, srv)
	if nets := d.inspect(srv, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); nets != net+" "+net2 && nets != net2+" "+net {
		t.Errorf("after connect: %q", nets)
	}
	d.ok("network", "disconnect", net2, srv)
	if nets := d.inspect(srv, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); nets != net {
		t.Errorf("after disconnect: %q", nets)
	}
}

func testDockerVolume(t *testing.T, d cli) {
	vol := d.name("dvol")
	d.ok("volume", "create", vol)
	t.Cleanup(func() { d.run("volume", "rm", "-f", vol) })
	d.ok("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
	if out := d.ok("run", "--rm", "-v", vol+":/data:ro", "busybox", "cat", "/data/f"); out != "kept" {
		t.Errorf("volume reuse: %q", out)
	}
	if out := d.ok("volume", "inspect", "-f", "{{.Driver}} {{.Name}}", vol); out != "local "+vol {
		t.Errorf("volume inspect: %q", out)
	}
	if ls := d.ok("volume", "ls", "-q", "--filter", "name="+vol); ls != vol {
		t.Errorf("volume ls: %q", ls)
	}
}

func testDockerSaveLoad(t *testing.T, d cli) {
	tag := "saved-" + strings.ToLower(d.name("img")) + ":v1"
	d.ok("tag", "busybox", tag)
	archive := filepath.Join(t.TempDir(), "img.tar")
	d.ok("save", "-o", archive, tag)
	d.ok("rmi", tag)
	if r := d.run("image", "inspect", tag); r.code == 0 {
		t.Fatalf("%s still exists after rmi", tag)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out := d.runIn(f, "load").out(); !strings.Contains(out, "Loaded image: "+tag) {
		t.Errorf("docker load: %q", out)
	}
	d.ok("image", "inspect", tag)
	d.ok("rmi", tag)
}

func testDockerEvents(t *testing.T, d cli) {
	live := d.name("dlive")
	st := d.start("events", "--filter", "container="+live, "--format", "{{.Action}}")
	// The stream is open once an event comes through: create (and remove)
	// the container until its create is seen.
	eventually(t, 30*time.Second, "docker events to stream", func() bool {
		d.run("rm", "-f", live)
		d.run("create", "--name", live, "busybox", "true")
		st.mu.Lock()
		defer st.mu.Unlock()
		return strings.Contains(st.out.String(), "create")
	})
	d.ok("start", live)
	eventually(t, 30*time.Second, "the live events of "+live, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return strings.Contains(st.out.String(), "start\n") && strings.Contains(st.out.String(), "die\n")
	})
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	n := d.name("devents")
	d.ok("run", "--rm", "--name", n, "busybox", "true")
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	out := d.ok("events", "--since", since, "--until", until, "--filter", "container="+n, "--format", "{{.Type}} {{.Action}}")
	for _, want := range []string{"container create", "container start", "container die", "container destroy"} {
		if !strings.Contains(out, want) {
			t.Errorf("events: want %q in\n%s", want, out)
		}
	}
}

func testDockerSystemDf(t *testing.T, d cli) {
	out := d.ok("system", "df", "--format", "{{.Type}}")
	for _, want := range []string{"Images", "Containers", "Local Volumes"} {
		if !strings.Contains(out, want) {
			t.Errorf("system df: want %q in %q", want, out)
		}
	}
	if out := d.ok("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox"); out != "busybox:latest" {
		t.Errorf("docker images: %q", out)
	}
	if out := d.ok("history", "-q", "busybox"); out == "" {
		t.Errorf("docker history printed nothing")
	}
}

func testDockerInspect(t *testing.T, d cli) {
	n := d.name("dinspect")
	d.ok("create", "--name", n, "--restart", "on-failure:3", "-e", "A=b", "-l", "k=v", "--memory", "64m", "busybox", "sleep", "1")
	for tmpl, want := range map[string]string{
		"{{.Name}}":                                                   "/" + n,
		"{{.State.Status}}":                                           "created",
		"{{.Config.Image}}":                                           "busybox",
		"{{index .Config.Labels \"k\"}}":                              "v",
		"{{.HostConfig.RestartPolicy.Name}}":                          "on-failure",
		"{{.HostConfig.RestartPolicy.MaximumRetryCount}}":             "3",
		"{{.HostConfig.Memory}}":                                      "67108864",
		"{{.HostConfig.LogConfig.Type}}":                              "json-file",
		"{{json .Config.Cmd}}":                                        `["sleep","1"]`,
		"{{range .Config.Env}}{{if eq . \"A=b\"}}found{{end}}{{end}}": "found",
	} {
		if got := d.inspect(n, tmpl); got != want {
			t.Errorf("inspect %s: %q, want %q", tmpl, got, want)
		}
	}
	if got := d.ok("image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}", "busybox"); !strings.HasPrefix(got, "linux/") {
		t.Errorf("image inspect: %q", got)
	}
	d.fails(1, []string{"No such object: nope-" + n}, "inspect", "nope-"+n)
	d.ok("rm", n)
}

// testDockerErrors: the messages users see for what went wrong.
func testDockerErrors(t *testing.T, d cli) {
	d.fails(1, []string{"No such container: nope"}, "start", "nope")
	n := d.name("derr")
	d.ok("run", "-d", "--name", n, "busybox", "sleep", "600")
	d.fails(125, []string{"is already in use", n}, "run", "-d", "--name", n, "busybox", "true")
	d.fails(1, []string{"stop the container before removing or force remove"}, "rm", n)
	d.fails(125, []string{"device cgroup rules", "not supported by berth"}, "run", "--rm", "--device-cgroup-rule", "c 1:3 mr", "busybox", "true")
	d.fails(125, []string{"could not get container for no-such-container"}, "run", "--rm", "--link", "no-such-container:x", "busybox", "true")
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nRUN exit 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.fails(1, []string{"exit code: 3"}, "build", "-q", ctxDir)
	d.fails(1, []string{"This node is not a swarm manager"}, "service", "ls")
	r := d.run("pull", "127.0.0.1:1/nothing:here")
	if r.code == 0 {
		t.Errorf("pull from nowhere: %s", r)
	}
}

func testDockerRegistry(t *testing.T, d cli) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{User: "alice", Password: "s3cret"})
	ref := reg.Addr() + "/team/busybox:v1"
	d.ok("tag", "busybox", ref)
	d.fails(1, []string{"unauthorized"}, "push", ref)
	d.fails(1, []string{"unauthorized"}, "login", "-u", "alice", "-p", "wrong", reg.Addr())
	if out := d.ok("login", "-u", "alice", "-p", "s3cret", reg.Addr()); !strings.Contains(out, "Login Succeeded") {
		t.Errorf("docker login: %q", out)
	}
	out := d.ok("push", ref)
	if !strings.Contains(out, "v1: digest: sha256:") {
		t.Errorf("docker push: %q", out)
	}
	// distribution inspect asks the registry, with the credentials.
	a := newDockerAPI(t, d.s)
	auth := base64.URLEncoding.EncodeToString([]byte(`{"username":"alice","password":"s3cret","serveraddress":"` + reg.Addr() + `"}`))
	resp, b := a.do("GET", "/distribution/"+ref+"/json", nil, "X-Registry-Auth", auth)
	var di struct {
		Descriptor struct{ Digest string }
		Platforms  []struct{ OS, Architecture string }
	}
	if err := json.Unmarshal(b, &di); resp.StatusCode != 200 || err != nil || !strings.Contains(out, "digest: "+di.Descriptor.Digest) ||
		len(di.Platforms) != 1 || di.Platforms[0].OS != "linux" {
		t.Errorf("distribution inspect: %d %s (push said %q)", resp.StatusCode, b, out)
	}
	if resp, b := a.do("GET", "/distribution/"+reg.Addr()+"/team/nope:v1/json", nil, "X-Registry-Auth", auth); resp.StatusCode != 404 {
		t.Errorf("distribution inspect of a missing image: %d %s", resp.StatusCode, b)
	}
	d.ok("rmi", ref)
	if out := d.ok("pull", ref); !strings.Contains(out, "Downloaded newer image for "+ref) {
		t.Errorf("docker pull: %q", out)
	}
	if out := d.ok("run", "--rm", ref, "echo", "pulled"); out != "pulled" {
		t.Errorf("run the pulled image: %q", out)
	}
	d.ok("rmi", ref)
}

// TestDockerClients drives berth's Docker API with other clients people
// use: Debian's docker.io CLI 20.10 (it negotiates API 1.41) and docker-py.
// Each is skipped where it is not installed.
func TestDockerClients(t *testing.T) {
	old := "/usr/bin/docker"
	if out, err := exec.Command(old, "--version").Output(); err != nil || !strings.Contains(string(out), "version 20.10") {
		old = ""
	}
	python := ""
	for _, p := range []string{os.Getenv("BERTH_PYTHON"), "python3", "/usr/bin/python3"} {
		if p == "" {
			continue
		}
		if exec.Command(p, "-c", "import docker").Run() == nil {
			python = p
			break
		}
	}
	nodeModules := os.Getenv("BERTH_NODE_MODULES")
	if nodeModules == "" {
		libexec := os.Getenv(harness.EnvLibexec)
		if libexec == "" {
			libexec = "/usr/local/lib/berth"
		}
		nodeModules = filepath.Join(libexec, "tools", "node", "node_modules")
	}
	if _, err := exec.LookPath("node"); err != nil || !fileExists(filepath.Join(nodeModules, "dockerode", "package.json")) {
		nodeModules = ""
	}
	if old == "" && python == "" && nodeModules == "" {
		t.Skip("none of Debian's docker.io client, docker-py and dockerode is installed")
	}
	s := harness.Start(t)
	s.LoadBusybox()
	t.Run("DockerIO2010", func(t *testing.T) {
		if old == "" {
			t.Skip("Debian's docker.io 20.10 client is not installed")
		}
		d := dockerCLI(t, s, old, t.TempDir())
		if v := d.ok("version", "--format", "{{.Client.APIVersion}}"); v != "1.41" {
			t.Errorf("negotiated version %q, want 1.41", v)
		}
		if out := d.ok("run", "--rm", "busybox", "echo", "old client"); out != "old client" {
			t.Errorf("run: %q", out)
		}
		n := d.name("old")
		d.ok("run", "-d", "--name", n, "busybox", "sleep", "600")
		// API 1.41's inspect still has the bridge's address at the top.
		ip := d.inspect(n, "{{.NetworkSettings.IPAddress}}")
		if ip == "" || ip != d.inspect(n, "{{.NetworkSettings.Networks.bridge.IPAddress}}") {
			t.Errorf("NetworkSettings.IPAddress %q", ip)
		}
		if out := d.ok("exec", n, "echo", "exec"); out != "exec" {
			t.Errorf("exec: %q", out)
		}
		if out := d.ok("ps", "--filter", "name="+n, "--format", "{{.Names}}"); out != n {
			t.Errorf("ps: %q", out)
		}
		d.ok("rm", "-f", n)
	})
	t.Run("Dockerode", func(t *testing.T) {
		if nodeModules == "" {
			t.Skip("node or dockerode is not installed (make deps installs dockerode where npm exists)")
		}
		cmd := exec.Command("node", "testdata/dockerode.js", strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36)))
		cmd.Env = append(os.Environ(), "DOCKER_SOCK="+strings.TrimPrefix(s.DockerHost(), "unix://"), "NODE_PATH="+nodeModules)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "all checks passed") {
			t.Fatalf("dockerode script: %v\n%s", err, out)
		}
	})
	t.Run("DockerPy", func(t *testing.T) {
		if python == "" {
			t.Skip("docker-py is not installed")
		}
		cmd := exec.Command(python, "testdata/dockerpy.py", strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36)))
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+s.DockerHost())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-py script: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "all checks passed") {
			t.Errorf("docker-py script:\n%s", out)
		}
	})
}

func testDockerPrune(t *testing.T, d cli) {
	keep, gone := d.name("dkeep"), d.name("dgone")
	d.ok("create", "--name", keep, "--label", "prune=keep", "busybox", "true")
	// gone writes 1 MiB to its writable layer: the space prune reclaims.
	d.ok("run", "--name", gone, "--label", "prune=gone", "busybox", "dd", "if=/dev/zero", "of=/mib", "bs=1024", "count=1024")
	out := d.ok("container", "prune", "-f", "--filter", "label=prune=gone")
	if !strings.Contains(out, "Total reclaimed space") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("container prune of a container with 1 MiB written: %q, want the space reclaimed", out)
	}
	if d.exists(gone) || !d.exists(keep) {
		t.Errorf("prune removed the wrong containers: %s gone %v, %s kept %v", gone, !d.exists(gone), keep, d.exists(keep))
	}
	vol := d.name("dprunevol")
	d.ok("volume", "create", "--label", "prune="+vol, vol)
	if out := d.ok("volume", "prune", "-a", "-f", "--filter", "label=prune="+vol); !strings.Contains(out, vol) {
		t.Errorf("volume prune: %q", out)
	}
	net := d.name("dprunenet")
	d.ok("network", "create", "--label", "prune="+net, net)
	if out := d.ok("network", "prune", "-f", "--filter", "label=prune="+net); !strings.Contains(out, net) {
		t.Errorf("network prune: %q", out)
	}
}

// TestDockerTCPMutualTLS: the Docker API on TCP answers only docker
// clients with a certificate from berthd's CA (DOCKER_TLS_VERIFY).
func TestDockerTCPMutualTLS(t *testing.T) {
	bin := dockerBin(t)
	dir := t.TempDir()
	ca := newTestCA(t, "berth docker test CA")
	caPath := filepath.Join(dir, "ca.pem")
	write(t, caPath, ca.pem)
	srvCert, srvKey := ca.issue(t, dir, "server", true)
	addr := freeLoopbackPort(t)
	s := harness.Start(t, harness.WithDaemonArgs("--docker-tcp-address", addr,
		"--tlscacert", caPath, "--tlscert", srvCert, "--tlskey", srvKey))
	certDir := filepath.Join(dir, "client")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := ca.issue(t, certDir, "client", false)
	for from, to := range map[string]string{cert: "cert.pem", key: "key.pem", caPath: "ca.pem"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(certDir, to), b)
	}
	docker := func(env ...string) result {
		c := cli{t: t, s: s, command: func(args ...string) *exec.Cmd {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(append(os.Environ(), "DOCKER_HOST=tcp://"+addr, "DOCKER_CONFIG="+t.TempDir()), env...)
			return cmd
		}}
		return c.run("version", "--format", "{{.Server.Platform.Name}}")
	}
	if r := docker("DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+certDir); r.code != 0 || r.out() != "berth" {
		t.Errorf("with a client certificate: %s", r)
	}
	// Without TLS, or TLS without a certificate: no answer from berthd.
	if r := docker(); r.code == 0 {
		t.Errorf("plain TCP answered: %s", r)
	}
	noCert := filepath.Join(dir, "nocert")
	if err := os.Mkdir(noCert, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(noCert, "ca.pem"), ca.pem)
	if r := docker("DOCKER_TLS=1", "DOCKER_CERT_PATH="+noCert); r.code == 0 {
		t.Errorf("TLS without a client certificate answered: %s", r)
	}
}
