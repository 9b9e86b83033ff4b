package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// dockerBin is the docker CLI the tests drive: $BERTH_DOCKER, docker on
// $PATH, or the one `make deps` builds into $BERTH_LIBEXEC/tools.
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
	if p := filepath.Join(libexec, "tools", "docker"); func() bool { _, err := os.Stat(p); return err == nil }() {
		return p
	}
	t.Skip("no docker CLI on $PATH nor in $BERTH_LIBEXEC/tools: run `make deps` or set BERTH_DOCKER")
	return ""
}

// dockerCLI runs the real docker CLI against one host's Docker API.
type dockerCLI struct {
	t   *testing.T
	h   *Host
	bin string
	cfg string
}

func newDocker(t *testing.T, h *Host) *dockerCLI {
	return &dockerCLI{t: t, h: h, bin: dockerBin(t), cfg: t.TempDir()}
}

// run returns the combined output and whether the command succeeded.
func (d *dockerCLI) run(args ...string) (string, bool) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(2*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.h.Stack.DockerHost(), "DOCKER_CONFIG="+d.cfg, "DOCKER_CLI_HINTS=false")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err == nil
}

func (d *dockerCLI) ok(args ...string) string {
	d.t.Helper()
	out, ok := d.run(args...)
	if !ok {
		d.t.Fatalf("%s: docker %s: %s", d.h.Name, strings.Join(args, " "), out)
	}
	return out
}

// fails checks that the command fails with every one of want in its output.
func (d *dockerCLI) fails(want []string, args ...string) {
	d.t.Helper()
	out, ok := d.run(args...)
	if ok {
		d.t.Errorf("%s: docker %s succeeded: %s", d.h.Name, strings.Join(args, " "), out)
		return
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			d.t.Errorf("%s: docker %s: output lacks %q: %s", d.h.Name, strings.Join(args, " "), w, out)
		}
	}
}

// dockerRequest sends one raw request to a host's Docker API socket.
func dockerRequest(t *testing.T, h *Host, method, path, body string) (int, string) {
	t.Helper()
	sock := strings.TrimPrefix(h.Stack.DockerHost(), "unix://")
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: harness.Timeout(time.Minute)}
	req, err := http.NewRequest(method, "http://docker"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDockerSwarm drives the Docker API's swarm endpoints of a three-node
// cluster with the real docker CLI: docker info, node ls/inspect/update/rm
// and the swarm verbs berth does with its own CLI.
func TestDockerSwarm(t *testing.T) {
	c := New(t, 3)
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	d1 := newDocker(t, h1)

	// Before the cluster: dockerd's answers outside a swarm, naming berth's
	// commands.
	if out := d1.ok("info", "--format", "{{.Swarm.LocalNodeState}}"); out != "inactive" {
		t.Errorf("docker info outside a cluster: Swarm %q", out)
	}
	d1.fails([]string{"This node is not a swarm manager", "berth cluster init"}, "node", "ls")
	d1.fails([]string{"berth cluster init", "not served by berth"}, "swarm", "init")

	c.Form()
	d2, d3 := newDocker(t, h2), newDocker(t, h3)
	clusterID := strings.TrimSpace(h1.BerthOK("cluster", "info", "--format", "{{.ClusterID}}"))

	t.Run("Info", func(t *testing.T) {
		d1.t, d3.t = t, t
		out := d3.ok("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}} {{.Swarm.Cluster.ID}} {{len .Swarm.RemoteManagers}}")
		if want := "active " + h3.NodeID + " true 3 3 " + clusterID + " 3"; out != want {
			t.Errorf("docker info on h3: %q, want %q", out, want)
		}
		out = d1.ok("info")
		for _, want := range []string{"Swarm: active", "NodeID: " + h1.NodeID, "Is Manager: true", "ClusterID: " + clusterID, "Managers: 3", "Nodes: 3", "Node Address: " + h1.IP} {
			if !strings.Contains(out, want) {
				t.Errorf("docker info lacks %q:\n%s", want, out)
			}
		}
		tok := strings.TrimSpace(h1.BerthOK("cluster", "join-token", "-q"))
		if out := d1.ok("swarm", "join-token", "-q", "worker"); out != tok {
			t.Errorf("docker swarm join-token -q worker: %q, want berth's %q", out, tok)
		}
		d1.fails([]string{"berth cluster join", "this node is in a berth cluster"}, "swarm", "join", "--token", tok, h2.IP+":2377")
		d1.fails([]string{"berth cluster leave"}, "swarm", "leave")
		if out := d1.ok("secret", "ls", "-q"); out != "" {
			t.Errorf("docker secret ls: %q", out)
		}
		d1.fails([]string{"not supported by berth"}, "config", "create", "c", "/etc/hostname")
	})

	t.Run("Nodes", func(t *testing.T) {
		d1.t, d2.t, d3.t = t, t, t
		out := d2.ok("node", "ls")
		lines := strings.Split(out, "\n")
		if len(lines) != 4 || !strings.Contains(lines[0], "MANAGER STATUS") {
			t.Fatalf("docker node ls:\n%s", out)
		}
		leaders, reachable := 0, 0
		for _, l := range lines[1:] {
			if !strings.Contains(l, "Ready") || !strings.Contains(l, "Active") {
				t.Errorf("node ls row: %q", l)
			}
			leaders += strings.Count(l, "Leader")
			reachable += strings.Count(l, "Reachable")
			if strings.Contains(l, " * ") != strings.Contains(l, h2.NodeID) {
				t.Errorf("self mark on the wrong row: %q", l)
			}
		}
		if leaders != 1 || reachable != 2 {
			t.Errorf("manager status: %d leaders, %d reachable, want 1 and 2:\n%s", leaders, reachable, out)
		}
		if out := d1.ok("node", "ls", "-q", "--filter", "role=manager"); len(strings.Fields(out)) != 3 {
			t.Errorf("node ls -f role=manager: %q", out)
		}
		if out := d1.ok("node", "ls", "-q", "--filter", "role=worker"); out != "" {
			t.Errorf("node ls -f role=worker: %q", out)
		}
		if out := d1.ok("node", "ls", "--format", "{{.Hostname}}", "--filter", "name=h3"); out != "h3" {
			t.Errorf("node ls -f name=h3: %q", out)
		}
		if out := d1.ok("node", "inspect", "self", "--format", "{{.ID}} {{.Spec.Role}} {{.Status.State}} {{.Status.Addr}} {{.ManagerStatus.Addr}}"); out != h1.NodeID+" manager ready "+h1.IP+" "+h1.IP+":2377" {
			t.Errorf("node inspect self: %q", out)
		}
		if out := d1.ok("node", "inspect", "--pretty", "h2"); !strings.Contains(out, "Hostname:") || !strings.Contains(out, "h2") {
			t.Errorf("node inspect --pretty h2:\n%s", out)
		}

		// update: availability and labels, seen by berth's own CLI on
		// another node.
		d1.ok("node", "update", "--availability", "drain", "--label-add", "zone=a", "--label-add", "disk=ssd", "h2")
		n := strings.TrimSpace(h3.BerthOK("node", "inspect", "--format", "{{.Availability}} {{index .Labels \"zone\"}} {{index .Labels \"disk\"}}", "h2"))
		if n != "drain a ssd" {
			t.Errorf("after docker node update, berth node inspect h2: %q", n)
		}
		d3.ok("node", "update", "--availability", "active", "--label-rm", "disk", "h2")
		if out := d1.ok("node", "inspect", "h2", "--format", "{{.Spec.Availability}} {{len .Spec.Labels}} {{.Spec.Labels.zone}}"); out != "active 1 a" {
			t.Errorf("node inspect h2 after the second update: %q", out)
		}
		if out := d1.ok("node", "ls", "-q", "--filter", "node.label=zone=a"); out != h2.NodeID {
			t.Errorf("node ls -f node.label=zone=a: %q, want %s", out, h2.NodeID)
		}
		d1.fails([]string{"no node promote/demote"}, "node", "demote", "h2")
		d1.fails([]string{"invalid availability"}, "node", "update", "--availability", "gone", "h2")
		d1.fails([]string{"no such node: nonode"}, "node", "inspect", "nonode")
		d1.fails([]string{"is ready"}, "node", "rm", "h2")

		// The version Docker clients send back: a stale one is refused.
		code, body := dockerRequest(t, h1, "POST", "/v1.50/nodes/"+h2.NodeID+"/update?version=1", `{"Availability":"pause"}`)
		if code != http.StatusConflict || !strings.Contains(body, "update out of sequence") {
			t.Errorf("update at a stale version: %d %s", code, body)
		}
		code, body = dockerRequest(t, h1, "POST", "/v1.50/nodes/"+h2.NodeID+"/update", `{}`)
		if code != http.StatusBadRequest || !strings.Contains(body, "invalid node version") {
			t.Errorf("update without a version: %d %s", code, body)
		}
	})

	t.Run("Services", func(t *testing.T) {
		d1.t, d2.t, d3.t = t, t, t
		testDockerServices(t, c, d1, d2, d3)
	})

	t.Run("Down", func(t *testing.T) {
		full(t)
		d1.t = t
		h3.Stack.KillDaemon()
		c.WaitStatus(h1, h3, "Down", downBound)
		out := d1.ok("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}", "--filter", "name=h3")
		if out != "h3 Down Unreachable" {
			t.Errorf("node ls of a killed node: %q", out)
		}
		h3.Stack.StartDaemon()
		c.WaitStatus(h1, h3, "Ready", downBound)
	})
}

// waitDocker runs the docker command until its output is want.
func waitDocker(t *testing.T, d *dockerCLI, want string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(harness.Timeout(90 * time.Second))
	var out string
	for time.Now().Before(deadline) {
		var ok bool
		if out, ok = d.run(args...); ok && out == want {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: docker %s: %q, want %q", d.h.Name, strings.Join(args, " "), out, want)
}

// testDockerServices: docker service create/ls/inspect/scale/update/
// rollback/rm through berth's Docker API, onto berth's service records.
func testDockerServices(t *testing.T, c *Cluster, d1, d2, d3 *dockerCLI) {
	for _, h := range c.Hosts {
		h.Stack.LoadBusybox()
	}
	// Refused by name, nothing left behind.
	d1.fails([]string{"OomScoreAdj", "not supported by berth"}, "service", "create", "-d", "--name", "bad", "--oom-score-adj", "100", "busybox", "sleep", "1")
	if out := d1.ok("service", "ls", "-q"); out != "" {
		t.Fatalf("a refused service was created: %q", out)
	}
	id := d1.ok("service", "create", "-d", "--quiet", "--name", "web", "--replicas", "3", "--label", "tier=front",
		"--env", "GREETING=hi", "--no-resolve-image", "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1048576",
		"--limit-memory", "64m", "--restart-condition", "on-failure", "--constraint", "node.role==manager",
		"busybox", "sh", "-c", "echo \"$GREETING from $(hostname)\"; exec sleep 100000")
	if len(id) < 12 {
		t.Fatalf("service create printed %q", id)
	}
	out := d2.ok("service", "ls", "--format", "{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
	if f := strings.Fields(out); len(f) != 5 || !strings.HasPrefix(id, f[0]) || f[1] != "web" || f[2] != "replicated" || !strings.HasSuffix(f[3], "/3") || f[4] != "busybox:latest" {
		t.Errorf("service ls: %q", out)
	}
	if out := d3.ok("service", "inspect", "web", "--format", "{{.ID}} {{.Spec.Name}} {{index .Spec.Labels \"tier\"}} {{.Spec.Mode.Replicated.Replicas}} {{index .Spec.TaskTemplate.ContainerSpec.Env 0}} {{(index .Spec.TaskTemplate.ContainerSpec.Mounts 0).Target}} {{(index .Spec.TaskTemplate.ContainerSpec.Mounts 0).TmpfsOptions.SizeBytes}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.RestartPolicy.Condition}} {{index .Spec.TaskTemplate.Placement.Constraints 0}}"); out != id+" web front 3 GREETING=hi /scratch 1048576 67108864 on-failure node.role==manager" {
		t.Errorf("service inspect: %q", out)
	}
	if out := d1.ok("service", "inspect", "--pretty", "web"); !strings.Contains(out, "Replicated") || !strings.Contains(out, "busybox") {
		t.Errorf("service inspect --pretty:\n%s", out)
	}
	if out := d1.ok("service", "ls", "-q", "--filter", "label=tier=front"); !strings.HasPrefix(id, out) || out == "" {
		t.Errorf("service ls -f label=tier=front: %q", out)
	}
	if out := d1.ok("service", "ls", "-q", "--filter", "name=nosuch"); out != "" {
		t.Errorf("service ls -f name=nosuch: %q", out)
	}

	// scale, update, rollback: the spec changes, seen from other nodes.
	d2.ok("service", "scale", "--detach", "web=5")
	if out := d1.ok("service", "inspect", "web", "--format", "{{.Spec.Mode.Replicated.Replicas}}"); out != "5" {
		t.Errorf("after scale web=5: replicas %q", out)
	}
	d3.ok("service", "update", "--detach", "--quiet", "--env-add", "GREETING=hello", "web")
	if out := d1.ok("service", "inspect", "web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Env}} {{len .PreviousSpec.TaskTemplate.ContainerSpec.Env}}"); out != "[GREETING=hello] 1" {
		t.Errorf("after update --env-add: %q", out)
	}
	d1.ok("service", "rollback", "--detach", "--quiet", "web")
	if out := d1.ok("service", "inspect", "web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Env}}"); out != "[GREETING=hi]" {
		t.Errorf("after rollback: %q", out)
	}
	d1.fails([]string{"not supported by berth", "OomScoreAdj"}, "service", "update", "--detach", "--oom-score-adj", "5", "web")
	d1.fails([]string{"no such service: nosuch"}, "service", "inspect", "nosuch")
	code, body := dockerRequest(t, c.Hosts[0], "POST", "/v1.50/services/"+id+"/update?version=1", `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`)
	if code != http.StatusConflict {
		t.Errorf("update at a stale version: %d %s", code, body)
	}
	// The tasks: five running (after the update and the rollback), spread
	// over the three nodes, their containers' output in service logs.
	waitDocker(t, d1, "5/5", "service", "ls", "--filter", "name=web", "--format", "{{.Replicas}}")
	out = d1.ok("service", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}}", "web")
	nodes := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "web.") || f[2] != "Running" || f[3] != "Running" {
			t.Errorf("service ps row %q", l)
			continue
		}
		nodes[f[1]]++
	}
	if len(nodes) != 3 {
		t.Errorf("running tasks not spread over h1, h2, h3:\n%s", out)
	}
	if out := d2.ok("service", "ps", "-q", "--filter", "desired-state=shutdown", "web"); out == "" {
		t.Error("service ps -f desired-state=shutdown: no task replaced by the update")
	}
	taskID := strings.Fields(d1.ok("service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", "web"))[0]
	if out := d2.ok("inspect", "--type", "task", "--format", "{{.ServiceID}} {{.DesiredState}} {{.Status.State}}", taskID); out != id+" running running" {
		t.Errorf("task inspect: %q", out)
	}
	t.Run("Logs", func(t *testing.T) {
		d3 := *d3
		d3.t = t
		var out string
		deadline := time.Now().Add(harness.Timeout(60 * time.Second))
		for {
			out = d3.ok("service", "logs", "web")
			if strings.Count(out, "hi from") >= 5 || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if strings.Count(out, "hi from") < 5 || !strings.Contains(out, "web.1.") || !strings.Contains(out, "@h") {
			t.Errorf("service logs:\n%s", out)
		}
		if out := d3.ok("service", "logs", "--raw", "--no-task-ids", taskID); !strings.Contains(out, "from") {
			t.Errorf("task logs: %q", out)
		}
	})

	// Without --detach, docker service create shows the convergence and
	// returns once the tasks run (its progress reads /tasks with
	// _up-to-date and /nodes).
	out = d2.ok("service", "create", "--name", "one", "--no-resolve-image", "--update-monitor", "1s", "busybox", "sleep", "100000")
	if !strings.Contains(out, "verify: Service") || !strings.Contains(out, "converged") {
		t.Errorf("service create without --detach:\n%s", out)
	}

	// rm: the services and their tasks' containers go, on every node.
	d2.ok("service", "rm", "web", "one")
	if out := d1.ok("service", "ls", "-q"); out != "" {
		t.Errorf("after rm: %q", out)
	}
	for _, h := range c.Hosts {
		waitDocker(t, newDocker(t, h), "", "ps", "-aq")
	}
}
