package main

import (
	"fmt"
	"sync"
	"time"
)

// 50 × `run -d … sleep 3600`, one after another and 4 at a time, each
// batch followed by one `rm -f` of the 50.

const manyCount = 50

var rmTarget = &Target{Text: "≤ 1 s", Value: 1000}

func init() {
	Register(Scenario{
		Name:   "many/sequential",
		Title:  fmt.Sprintf("%d × `run -d busybox sleep 3600`, one after another (total)", manyCount),
		Group:  "Many containers",
		Unit:   "ms",
		Order:  200,
		Target: &Target{Text: "≤ 3 s", Value: 3000},
		Run:    func(env *Env) error { return runMany(env, 1) },
	})
	Register(Scenario{
		Name:  "many/parallel-4",
		Title: fmt.Sprintf("%d × `run -d busybox sleep 3600`, 4 at a time (total)", manyCount),
		Group: "Many containers",
		Unit:  "ms",
		Order: 201,
		Run:   func(env *Env) error { return runMany(env, 4) },
	})
}

func runMany(env *Env, parallel int) error {
	rm := env.Also("many/rm", fmt.Sprintf("`rm -f` of the %d running containers (one command; ctr: one per container + one)", manyCount), "ms", rmTarget)
	return env.RoundRobin(env.RepsFor(3, 1), env.Engines, func(i int, e *Engine) error {
		names := make([]string, manyCount)
		for k := range names {
			names[k] = fmt.Sprintf("bench-p%d-%d-%d", parallel, i, k)
		}
		start := time.Now()
		var mu sync.Mutex
		var firstErr error
		var started []string
		work := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < parallel; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					_, err := e.RunDetached(env.Ctx, n)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if err == nil {
						started = append(started, n)
					}
					mu.Unlock()
				}
			}()
		}
		for _, n := range names {
			mu.Lock()
			stop := firstErr != nil
			mu.Unlock()
			if stop || env.Ctx.Err() != nil {
				break
			}
			work <- n
		}
		close(work)
		wg.Wait()
		total := time.Since(start)
		if firstErr == nil && env.Ctx.Err() == nil {
			env.RecordDuration(e.Name, total)
		}
		if len(started) == 0 {
			return firstErr
		}
		d, err := e.RemoveAll(env.Ctx, started)
		if err == nil && firstErr == nil {
			rm.RecordDuration(e.Name, d)
		}
		if firstErr != nil {
			return firstErr
		}
		return err
	})
}
