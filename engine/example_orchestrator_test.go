package engine_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthproject/berth/engine"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
)

// An orchestrator-like program that embeds the engine: it starts a
// workload, watches its events and restarts it while it fails, up to a
// budget, then reports the outcome. The workload here fails twice and
// succeeds on its third run (it counts its runs in its own file system,
// which a restart keeps).
func Example_orchestrator() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := engine.New(ctx, stackOptions()...) // e.g. engine.WithContainerdAddress("/run/containerd/containerd.sock")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	containers := e.Containers()

	id, _, err := containers.Create(ctx, containertypes.Config{
		Image:       "busybox",
		NetworkMode: "none",
		Labels:      map[string]string{"orchestrated-by": "example"},
		Cmd: []string{"sh", "-c", `n=$(($(cat /runs 2>/dev/null || echo 0) + 1)); echo $n > /runs; ` +
			`[ $n -ge 3 ] || { echo "run $n failed" >&2; exit 1; }`},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer containers.Remove(context.Background(), id, containertypes.RemoveOptions{Force: true})

	// Subscribe before the first start: Subscribe returns once the
	// subscription is registered, so no event after it is missed.
	deaths, err := e.Events().Subscribe(ctx, events.Filter{Filters: map[string][]string{
		"type": {"container"}, "container": {id}, "event": {"die"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := containers.Start(ctx, id); err != nil {
		fmt.Println(err)
		return
	}

	const budget = 5 // restarts
	for restarts := 0; ; restarts++ {
		var ev events.Message
		select {
		case ev = <-deaths:
		case <-ctx.Done():
			fmt.Println("no event:", ctx.Err())
			return
		}
		code := ev.Actor.Attributes["exitCode"]
		if code == "0" {
			fmt.Printf("run %d: exit code 0, done after %d restarts\n", restarts+1, restarts)
			break
		}
		if restarts == budget {
			fmt.Printf("run %d: exit code %s, giving up\n", restarts+1, code)
			break
		}
		fmt.Printf("run %d: exit code %s, restarting\n", restarts+1, code)
		if err := containers.Start(ctx, id); err != nil {
			fmt.Println(err)
			return
		}
	}

	// What the workload said on its way: its log, through the engine.
	var lines []string
	_ = containers.Logs(ctx, id, containertypes.LogOptions{Stderr: true, Tail: -1}, func(l containertypes.LogEntry) error {
		lines = append(lines, strings.TrimSpace(string(l.Line)))
		return nil
	})
	fmt.Println(strings.Join(lines, "; "))
	// Output:
	// run 1: exit code 1, restarting
	// run 2: exit code 1, restarting
	// run 3: exit code 0, done after 2 restarts
	// run 1 failed; run 2 failed
}
