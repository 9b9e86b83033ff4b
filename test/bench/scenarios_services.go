package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/test/cluster"
)

// Issue 22: the time from `service create --replicas 30` to 30 running
// tasks, of a rolling update of 12 tasks, and to reschedule the tasks of
// a node that fails, on a three-node berth cluster made by the multi-host test
// harness (test/cluster: three network namespaces, each with its own
// berthd; three etcd members). The command waits for convergence itself
// (no --detach), as Docker's does. dockerd's swarm mode is not set up by
// the bench, so there is no peer in the run: swarm's figures in
// docs/services.md come from Docker's documentation.

func init() {
	Register(Scenario{
		Name:  "services/create-30",
		Title: "`service create --replicas 30 busybox sleep` until 30 tasks run, 3-node cluster",
		Group: "Cluster services",
		Unit:  "ms",
		Order: 810,
		Run:   runServicesCreate30,
	})
}

func runServicesCreate30(env *Env) error {
	tb := &benchTB{}
	defer func() {
		if err := tb.runCleanups(); err != nil || tb.Failed() {
			logf("services: cluster clean-up: %v (failed %v)", err, tb.Failed())
		}
	}()
	var c *cluster.Cluster
	if err := guard(func() {
		c = cluster.New(tb, 3)
		c.Form()
		var wg sync.WaitGroup
		for _, h := range c.Hosts {
			wg.Add(1)
			go func() { defer wg.Done(); h.Stack.LoadBusybox() }()
		}
		wg.Wait()
	}); err != nil {
		env.Skip("three-node cluster (test/cluster) did not start: " + err.Error())
		return nil
	}
	berth := filepath.Join(env.Bench.dir, "berth-bin", "berth")
	host := c.Hosts[0].Stack.Host()
	e := &Engine{Name: "berth", cli: func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, berth, append([]string{"--host", host}, args...)...)
	}}
	env.Note("berth = a three-node berth cluster (test/cluster harness: three netns hosts, each with berthd and an etcd member); no peer: dockerd's swarm mode is not set up by the bench")
	update := env.Also("services/update-12", "rolling update of 12 tasks (`service update --env-add`, parallelism 2, start-first, monitor 1s) until completed", "ms", nil)
	resched := env.Also("services/reschedule", "a node's berthd killed (kill -9, not the leader's) until its 4 of the 12 tasks run on the 2 other nodes (`service ps` polled every 100 ms)", "ms", nil)
	return env.RoundRobin(env.RepsFor(5, 2), []*Engine{e}, func(_ int, e *Engine) error {
		name := e.uniq("bsvc")
		d, err := e.Exec(env.Ctx, "service", "create", "-q", "--name", name, "--replicas", "30", "busybox", "sleep", "3600")
		if err != nil {
			return err
		}
		env.RecordDuration(e.Name, d)
		if _, err := e.Exec(env.Ctx, "service", "scale", name+"=12"); err != nil {
			return err
		}
		d, err = e.Exec(env.Ctx, "service", "update", "-q", "--update-parallelism", "2", "--update-order", "start-first",
			"--update-monitor", "1s", "--env-add", "ROUND="+name, name)
		if err != nil {
			return err
		}
		update.RecordDuration(e.Name, d)
		if d, err = reschedule(c, name, 12); err != nil {
			return err
		}
		resched.RecordDuration(e.Name, d)
		if _, err := e.Exec(context.Background(), "service", "rm", name); err != nil {
			logf("services: clean-up: %v", err)
		}
		// The next round starts once every task container is gone.
		for _, h := range c.Hosts {
			for i := 0; i < 300; i++ {
				r := h.Berth("ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+name)
				if r.ExitCode == 0 && strings.TrimSpace(r.Stdout) == "" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		return nil
	})
}

// reschedule kills the berthd of a node that does not lead the services
// and returns how long until the service's replicas all run on the other
// nodes (the node's lease expires, the leader replaces its tasks, the
// nodes start them); then the node's berthd starts again and the node is
// ready before it returns.
func reschedule(c *cluster.Cluster, svc string, replicas int) (d time.Duration, err error) {
	leader := c.ServiceLeader()
	var victim, from *cluster.Host
	for _, h := range c.Hosts {
		switch {
		case victim == nil && h != leader:
			victim = h
		case from == nil:
			from = h
		}
	}
	if victim == nil || from == nil {
		return 0, fmt.Errorf("reschedule: no node to kill among %d", len(c.Hosts))
	}
	start := time.Now()
	if err := guard(victim.Stack.KillDaemon); err != nil {
		return 0, err
	}
	defer func() {
		gerr := guard(func() {
			victim.Stack.StartDaemon()
			c.WaitStatus(from, victim, "Ready", 90*time.Second)
		})
		if err == nil {
			err = gerr
		}
	}()
	for time.Since(start) < 2*time.Minute {
		r := from.Berth("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", svc)
		n := 0
		for _, l := range strings.Split(r.Stdout, "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] != victim.Name && f[1] == "Running" {
				n++
			}
		}
		if r.ExitCode == 0 && n == replicas {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("reschedule: %d tasks of %s not running off %s after 2 minutes", replicas, svc, victim.Name)
}
