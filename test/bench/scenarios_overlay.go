package main

import (
	"context"
	"os/exec"
	"path/filepath"

	"github.com/berthproject/berth/test/cluster"
)

// Issue 21: the time to create an overlay network and run the first
// container on it, on a one-node berth cluster made by the multi-host
// test harness (test/cluster: a network namespace with its own berthd
// and etcd member). Beside it, in the same run, the same two commands
// with a local bridge network on the bench's berth stack ("berth
// bridge") and on dockerd ("docker bridge"); dockerd's overlay needs
// swarm mode, which the bench does not set up.

func init() {
	Register(Scenario{
		Name:  "overlay/create-first-run",
		Title: "`network create -d overlay --attachable N` then `run --rm --network N busybox true` (both; bridge networks beside it)",
		Group: "Cluster overlay",
		Unit:  "ms",
		Order: 800,
		Run:   runOverlayFirst,
	})
}

func runOverlayFirst(env *Env) error {
	tb := &benchTB{}
	defer func() {
		if err := tb.runCleanups(); err != nil || tb.Failed() {
			logf("overlay: cluster clean-up: %v (failed %v)", err, tb.Failed())
		}
	}()
	var c *cluster.Cluster
	if err := guard(func() {
		c = cluster.New(tb, 1)
		c.Form()
		c.Hosts[0].Stack.LoadBusybox()
	}); err != nil {
		env.Skip("one-node cluster (test/cluster) did not start: " + err.Error())
		return nil
	}
	berth := filepath.Join(env.Bench.dir, "berth-bin", "berth")
	host := c.Hosts[0].Stack.Host()
	ov := &Engine{Name: "berth", cli: func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, berth, append([]string{"--host", host}, args...)...)
	}}
	driver := map[string]string{"berth": "overlay"}
	engines := []*Engine{ov}
	for _, name := range []string{"berth", "docker"} {
		if e := env.Engine(name); e != nil {
			engines = append(engines, &Engine{Name: name + " bridge", cli: e.cli})
			driver[name+" bridge"] = "bridge"
		}
	}
	env.Note("berth = overlay network on a one-node berth cluster (test/cluster harness: its own netns, berthd, etcd member); berth bridge and docker bridge = a user-defined bridge network on the bench's berth stack and on dockerd (dockerd's overlay needs swarm mode, not set up here)")
	create := env.Also("overlay/create", "`network create` alone (overlay; bridge beside it)", "ms", nil)
	first := env.Also("overlay/first-run", "first `run --rm busybox true` on the new network", "ms", nil)
	return env.RoundRobin(env.Reps, engines, func(_ int, e *Engine) error {
		net := e.uniq("bnov")
		args := []string{"network", "create", "-d", driver[e.Name]}
		if driver[e.Name] == "overlay" {
			args = append(args, "--attachable")
		}
		d1, err := e.Exec(env.Ctx, append(args, net)...)
		if err != nil {
			return err
		}
		defer func() {
			if _, err := e.Exec(context.Background(), "network", "rm", net); err != nil {
				logf("overlay: clean-up: %v", err)
			}
		}()
		d2, err := e.Exec(env.Ctx, "run", "--rm", "--network", net, "busybox", "true")
		if err != nil {
			return err
		}
		env.RecordDuration(e.Name, d1+d2)
		create.RecordDuration(e.Name, d1)
		first.RecordDuration(e.Name, d2)
		return nil
	})
}
