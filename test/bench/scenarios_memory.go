package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Memory: the daemons' RSS when idle, and the per-container processes
// (shims, conmon, loggers) with 20 sleeping containers.

const memContainers = 20

func init() {
	Register(Scenario{
		Name:   "memory/idle-daemons",
		Title:  "Idle daemons, RSS (berth: berthd + its containerd + berth-snapshotter when enabled; docker: dockerd + its containerd; podman: none)",
		Group:  "Memory",
		Unit:   "kB",
		Order:  10,
		Target: &Target{Text: "≤ ½ of dockerd + its containerd", Peer: "docker", Ratio: 0.5},
		Run:    idleDaemons,
	})
	Register(Scenario{
		Name:   "memory/per-container-pss",
		Title:  fmt.Sprintf("Per running container, PSS of its shim (+ its logger) with %d containers", memContainers),
		Group:  "Memory",
		Unit:   "kB",
		Order:  300,
		Target: &Target{Text: "≤ 1.0 MB PSS", Value: 1000},
		Run:    perContainerMemory,
	})
}

// idleDaemons samples the daemons' RSS a few times, 200 ms apart, after
// the image was loaded and one warm-up run per network. RSS is the
// figure for both engines (PSS as a second result: the same pages shared
// by two daemons, e.g. libc, count once); the note splits each daemon's
// last sample into anonymous memory (heap, stacks) and file pages (its
// binary and libraries).
func idleDaemons(env *Env) error {
	pssEnv := env.Also("memory/idle-daemons-pss", "Idle daemons, PSS (the same daemons as the RSS figure)", "kB", nil)
	for _, e := range env.Engines {
		d := e.daemons()
		if len(d) == 0 {
			env.Note("%s: no daemon", e.Name)
			continue
		}
		var parts []string
		var names []string
		for n := range d {
			names = append(names, n)
		}
		sort.Strings(names)
		for i := 0; i < 5; i++ {
			var sum, psum int64
			var ps []string
			for _, n := range names {
				m := memDetail(d[n])
				sum += m["Rss"]
				psum += m["Pss"]
				ps = append(ps, fmt.Sprintf("%s %d (anon %d, file %d, pss %d)", n, m["Rss"], m["Anonymous"], m["Rss"]-m["Anonymous"], m["Pss"]))
			}
			if sum == 0 {
				return fmt.Errorf("%s: daemons %v have no memory figures", e.Name, d)
			}
			env.Record(e.Name, float64(sum))
			pssEnv.Record(e.Name, float64(psum))
			parts = ps
			time.Sleep(200 * time.Millisecond)
		}
		env.Note("%s: %s kB (last sample)", e.Name, strings.Join(parts, " + "))
	}
	return nil
}

// perContainerMemory starts 20 sleeping containers per engine, lets them
// settle, and records each container's processes' PSS (and, as a second
// result, RSS).
func perContainerMemory(env *Env) error {
	rssEnv := env.Also("memory/per-container-rss", fmt.Sprintf("Per running container, RSS of its shim (+ its logger) with %d containers", memContainers), "kB", nil)
	grow := env.Also("memory/daemons-with-20", fmt.Sprintf("Daemons' RSS with %d running containers", memContainers), "kB", nil)
	for _, e := range env.Engines {
		if env.Ctx.Err() != nil {
			return env.Ctx.Err()
		}
		var names []string
		var err error
		for k := 0; k < memContainers; k++ {
			n := fmt.Sprintf("bench-mem-%d", k)
			if _, err = e.RunDetached(env.Ctx, n); err != nil {
				break
			}
			names = append(names, n)
		}
		if err == nil {
			// Shims return memory after an idle second (berth's shim);
			// let every engine settle alike.
			time.Sleep(3 * time.Second)
			groups := e.perContainer()
			if len(groups) != memContainers {
				err = fmt.Errorf("found %d per-container process groups for %d containers", len(groups), memContainers)
			}
			kinds := map[string]bool{}
			// What the containers share (berth's spare shim) is shared
			// out among them.
			var sharedRSS, sharedPSS int64
			if e.shared != nil && len(groups) > 0 {
				sh := e.shared()
				for _, pid := range sh {
					r, p := memKB(pid)
					sharedRSS += r
					sharedPSS += p
				}
				if len(sh) > 0 {
					env.Note("%s: %d spare shim(s), %d kB PSS, shared out among the %d containers", e.Name, len(sh), sharedPSS, len(groups))
				}
				sharedRSS /= int64(len(groups))
				sharedPSS /= int64(len(groups))
			}
			for _, g := range groups {
				rss, pss := sharedRSS, sharedPSS
				for _, pid := range g {
					r, p := memKB(pid)
					rss += r
					pss += p
					kinds[exeName(pid)] = true
				}
				env.Record(e.Name, float64(pss))
				rssEnv.Record(e.Name, float64(rss))
			}
			var ks []string
			for k := range kinds {
				ks = append(ks, filepath.Base(k))
			}
			sort.Strings(ks)
			env.Note("%s: %s", e.Name, strings.Join(ks, " + "))
			var sum int64
			for _, pid := range e.daemons() {
				r, _ := memKB(pid)
				sum += r
			}
			if sum > 0 {
				grow.Record(e.Name, float64(sum))
			}
		}
		if len(names) > 0 {
			if _, rerr := e.RemoveAll(env.Ctx, names); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil {
			env.Fail(e.Name, err)
		}
	}
	return nil
}
