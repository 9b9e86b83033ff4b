package main

import (
	"fmt"
	"sync"
	"time"
)

// A published port: `run -d -p 127.0.0.1::80 busybox sleep 3600` followed
// by `rm -f`, the whole cycle, and what the port adds to the same cycle
// without -p (paired cycles, the order alternating); then the same with
// 200 containers already publishing ports (the cost must not grow with
// them). The pairs differ by ±30 ms on this shared machine: the target
// (5 ms) needs 30 and 20 of them for a median that is not one pair's
// noise (with 15 and 10, berth's medians of runs in a row were -3 to 6 ms).

const portsLoad = 200

func init() {
	Register(Scenario{
		Name:   "ports/cycle",
		Title:  "`run -d -p 127.0.0.1::80 busybox sleep 3600` + `rm -f`, the whole cycle",
		Group:  "Published ports",
		Unit:   "ms",
		Order:  150,
		Target: &Target{Text: "≤ 0.4 × Docker's median", Peer: "docker", Ratio: 0.4},
		Run: func(env *Env) error {
			cost := env.Also("ports/cost", "Cost of a published port: the cycle with `-p 127.0.0.1::80` minus the same without, paired", "ms",
				&Target{Text: "the port adds ≤ 5 ms (median of pairs)", Value: 5})
			return portPairs(env, portEngines(env), cost, env.RepsFor(30, 3))
		},
	})
	Register(Scenario{
		Name:   "ports/cycle-200",
		Title:  fmt.Sprintf("The same cycle with %d containers already publishing ports", portsLoad),
		Group:  "Published ports",
		Unit:   "ms",
		Order:  151,
		Target: &Target{Text: "≤ 0.4 × Docker's median", Peer: "docker", Ratio: 0.4},
		Run: func(env *Env) error {
			cost := env.Also("ports/cost-200", fmt.Sprintf("Cost of a published port with %d containers already publishing ports, paired", portsLoad), "ms",
				&Target{Text: "the port adds ≤ 5 ms (median of pairs)", Value: 5})
			engines := portEngines(env)
			loaded := map[string][]string{}
			defer func() {
				for _, e := range engines {
					if names := loaded[e.Name]; len(names) > 0 {
						if _, err := e.RemoveAll(env.Ctx, names); err != nil {
							env.Note("%s: removing the %d loaded containers: %v", e.Name, len(names), err)
						}
					}
				}
			}()
			// An engine that cannot start the 200 (podman once failed to
			// bind a port it had picked itself) is left out of the
			// cycles, with its error in the report; the others go on.
			var ready []*Engine
			for _, e := range engines {
				names, err := loadPorts(env, e)
				loaded[e.Name] = names
				if err != nil {
					if env.Ctx.Err() != nil {
						return env.Ctx.Err()
					}
					env.Fail(e.Name, fmt.Errorf("starting %d containers publishing ports: %w", portsLoad, err))
					continue
				}
				ready = append(ready, e)
			}
			return portPairs(env, ready, cost, env.RepsFor(20, 2))
		},
	})
}

// portEngines: the engines whose CLI takes -p (not ctr).
func portEngines(env *Env) []*Engine {
	var out []*Engine
	for _, e := range env.Engines {
		if e.Name != "ctr" && e.Supports("bridge") {
			out = append(out, e)
		}
	}
	return out
}

// portCycle times `run -d [-p 127.0.0.1::80] --name N busybox sleep 3600`
// plus the removal of N.
func portCycle(env *Env, e *Engine, publish bool) (time.Duration, error) {
	name := e.uniq("pc")
	args := []string{"run", "-d", "--name", name}
	if publish {
		args = append(args, "-p", "127.0.0.1::80")
	}
	args = append(args, "busybox", "sleep", "3600")
	d, err := e.Exec(env.Ctx, args...)
	if err != nil {
		_, _ = e.RemoveAll(env.Ctx, []string{name})
		return d, err
	}
	r, err := e.RemoveAll(env.Ctx, []string{name})
	return d + r, err
}

// portPairs records, for engines, the cycle with -p into env and, paired
// with the same cycle without -p right before or after it, the difference
// into cost.
func portPairs(env *Env, engines []*Engine, cost *Env, reps int) error {
	return env.RoundRobin(reps, engines, func(round int, e *Engine) error {
		order := []bool{false, true}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		took := map[bool]time.Duration{}
		for _, publish := range order {
			d, err := portCycle(env, e, publish)
			if err != nil {
				return err
			}
			took[publish] = d
		}
		env.RecordDuration(e.Name, took[true])
		cost.Record(e.Name, float64((took[true]-took[false]).Microseconds())/1000)
		return nil
	})
}

// loadPorts starts portsLoad containers publishing a port each, 4 at a time.
func loadPorts(env *Env, e *Engine) ([]string, error) {
	start := time.Now()
	var mu sync.Mutex
	var names []string
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				_, err := e.Exec(env.Ctx, "run", "-d", "--name", n, "-p", "127.0.0.1::80", "busybox", "sleep", "3600")
				mu.Lock()
				if err == nil {
					names = append(names, n)
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < portsLoad; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		work <- fmt.Sprintf("bench-load-%d", i)
	}
	close(work)
	wg.Wait()
	env.Note("%s: %d containers publishing ports started in %s", e.Name, len(names), time.Since(start).Round(time.Millisecond))
	return names, firstErr
}
