package main

import (
	"os/exec"
)

// Rebuild timings need `berth build`; until it exists the scenario is
// reported as not run. (The pull scenario lives in pull.go.)

func init() {
	Register(Scenario{
		Name:  "build/rebuild",
		Title: "Rebuild, nothing changed / last layer changed",
		Group: "Images",
		Unit:  "ms",
		Order: 500,
		Run: func(env *Env) error {
			b := env.Engine("berth")
			if b == nil {
				env.Skip("berth not measured")
				return nil
			}
			cmd := b.cli(env.Ctx, "build", "--help")
			if err := cmd.Run(); err != nil {
				if _, ok := err.(*exec.ExitError); ok {
					env.Skip("berth has no `build` command yet")
					return nil
				}
				return err
			}
			env.Skip("berth build exists but this scenario is not written yet")
			return nil
		},
	})
}
