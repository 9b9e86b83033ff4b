package cluster

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

const stackFile = `services:
  web:
    image: busybox
    command: ["sh", "-c", "echo up; exec sleep 100000"]
    environment:
      ROLE: web
    deploy:
      replicas: REPLICAS
      labels:
        tier: front
      resources:
        limits: {memory: 64M}
      restart_policy: {condition: on-failure}
      update_config: {parallelism: 1, order: start-first}
    networks: [back]
  worker:
    image: busybox
    command: sleep 100000
    deploy:
      mode: global
    networks: [back]
networks:
  back: {}
`

var runningRe = regexp.MustCompile(`(?m)Running\s+Running`)

// running counts the tasks of `stack ps` desired and currently running.
func running(out string) int { return len(runningRe.FindAllString(out, -1)) }

// TestStack: berth stack deploy/ls/ps/rm on a one-node cluster, the
// services checked through the Docker API with the docker CLI.
func TestStack(t *testing.T) {
	c := New(t, 1)
	c.Form()
	h := c.Hosts[0]
	h.Stack.LoadBusybox()
	d := newDocker(t, h)
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// What berth does not run is refused by name, and nothing is made.
	write("services:\n  bad:\n    build: .\n    depends_on: [other]\n  other:\n    image: busybox\n    container_name: fixed\n")
	r := h.Berth("stack", "deploy", "-c", file, "bad")
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "not supported by berth stack") {
		t.Errorf("a stack with build and depends_on: %s", r)
	}
	if out := d.ok("service", "ls", "-q"); out != "" {
		t.Errorf("a refused stack made services: %q", out)
	}

	write(strings.Replace(stackFile, "REPLICAS", "2", 1))
	out := h.BerthOK("stack", "deploy", "-c", file, "app")
	for _, want := range []string{"Creating network app_back", "Creating service app_web", "Creating service app_worker"} {
		if !strings.Contains(out, want) {
			t.Errorf("stack deploy output lacks %q:\n%s", want, out)
		}
	}
	if out := h.BerthOK("stack", "ls"); !strings.Contains(out, "app ") || !strings.Contains(out, " 2") {
		t.Errorf("stack ls:\n%s", out)
	}
	if out := d.ok("service", "inspect", "app_web", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \"tier\"}} {{index .Spec.Labels \"com.docker.stack.namespace\"}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.RestartPolicy.Condition}} {{.Spec.UpdateConfig.Order}} {{(index .Spec.TaskTemplate.Networks 0).Target}}"); out != "2 front app 67108864 on-failure start-first app_back" {
		t.Errorf("service inspect app_web: %q", out)
	}
	if out := d.ok("service", "inspect", "app_worker", "--format", "{{if .Spec.Mode.Global}}global{{end}}"); out != "global" {
		t.Errorf("app_worker mode: %q", out)
	}
	waitRunning := func(n int) string {
		t.Helper()
		deadline := time.Now().Add(harness.Timeout(90 * time.Second))
		for {
			out := h.BerthOK("stack", "ps", "app")
			if running(out) == n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if out := waitRunning(3); running(out) != 3 || !strings.Contains(out, "app_web.1") || !strings.Contains(out, "app_worker.h1") {
		t.Errorf("stack ps app, want web.1, web.2 and worker on h1 running:\n%s", out)
	}

	// Deployed again with three replicas: the service is updated.
	write(strings.Replace(stackFile, "REPLICAS", "3", 1))
	if out := h.BerthOK("stack", "deploy", "-c", file, "app"); !strings.Contains(out, "Updating service app_web") {
		t.Errorf("second deploy:\n%s", out)
	}
	if out := waitRunning(4); running(out) != 4 {
		t.Errorf("after the second deploy, want 4 running tasks:\n%s", out)
	}

	out = h.BerthOK("stack", "rm", "app")
	if !strings.Contains(out, "Removing service app_web") || !strings.Contains(out, "Removing network app_back") {
		t.Errorf("stack rm:\n%s", out)
	}
	if out := d.ok("service", "ls", "-q"); out != "" {
		t.Errorf("services left after stack rm: %q", out)
	}
	if r := h.Berth("network", "inspect", "app_back"); r.ExitCode == 0 {
		t.Error("network app_back left after stack rm")
	}
	// The docker CLI's own stack (its Compose parsing, berth's /services,
	// /networks and /tasks): deploy, ps by the stack's label, rm.
	write("services:\n  web:\n    image: busybox\n    command: sleep 100000\n    deploy:\n      replicas: 2\n")
	d.ok("stack", "deploy", "-c", file, "--resolve-image", "never", "dapp")
	waitDocker(t, d, "2/2", "service", "ls", "--filter", "name=dapp_web", "--format", "{{.Replicas}}", "--filter", "label=com.docker.stack.namespace=dapp")
	waitDocker(t, d, "dapp_web.1 Running\ndapp_web.2 Running", "stack", "ps", "dapp", "--filter", "desired-state=running", "--format", "{{.Name}} {{.DesiredState}}")
	// The network goes once the removed service's tasks have left it: a
	// stack rm right after may find them there, as on dockerd, and is
	// run again.
	rmDeadline := time.Now().Add(harness.Timeout(60 * time.Second))
	for {
		out, ok := d.run("stack", "rm", "dapp")
		if ok {
			break
		}
		if time.Now().After(rmDeadline) || !strings.Contains(out, "active endpoints") {
			t.Fatalf("docker stack rm dapp: %s", out)
		}
		time.Sleep(time.Second)
	}
	if r := h.Berth("network", "inspect", "dapp_default"); r.ExitCode == 0 {
		t.Error("network dapp_default left after docker stack rm")
	}

	deadline := time.Now().Add(harness.Timeout(60 * time.Second))
	for h.BerthOK("ps", "-aq") != "" && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if out := h.BerthOK("ps", "-aq"); out != "" {
		t.Errorf("containers left after stack rm: %q", out)
	}
}
