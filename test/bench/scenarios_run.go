package main

// `run --rm busybox true` on each network mode.

func init() {
	for i, n := range []struct {
		network string
		target  *Target
	}{
		{"bridge", &Target{Text: "≤ 100 ms median", Value: 100}},
		{"none", &Target{Text: "≤ 70 ms median", Value: 70}},
		{"host", nil},
	} {
		network := n.network
		Register(Scenario{
			Name:   "run-rm/" + network,
			Title:  "`run --rm busybox true`, " + network + " network",
			Group:  "Start and remove",
			Unit:   "ms",
			Order:  100 + i,
			Target: n.target,
			Run: func(env *Env) error {
				var engines []*Engine
				for _, e := range env.Engines {
					if e.Supports(network) {
						engines = append(engines, e)
					}
				}
				return env.RoundRobin(env.Reps, engines, func(_ int, e *Engine) error {
					d, err := e.RunRm(env.Ctx, network)
					if err == nil {
						env.RecordDuration(e.Name, d)
					}
					return err
				})
			},
		})
	}
}

// What bridge networking adds to `run --rm busybox true` over --network
// none: each sample is one bridge run minus the none run right before or
// after it (the order alternates), so that both see the same load.
func init() {
	Register(Scenario{
		Name:   "run-rm/bridge-cost",
		Title:  "Cost of bridge networking: `run --rm busybox true` on bridge minus the same on none, paired runs",
		Group:  "Start and remove",
		Unit:   "ms",
		Order:  103,
		Target: &Target{Text: "bridge adds ≤ 10 ms over none (median of pairs)", Value: 10},
		Run: func(env *Env) error {
			var engines []*Engine
			for _, e := range env.Engines {
				if e.Supports("bridge") && e.Supports("none") {
					engines = append(engines, e)
				}
			}
			return env.RoundRobin(env.Reps*2, engines, func(round int, e *Engine) error {
				order := []string{"none", "bridge"}
				if round%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				took := map[string]float64{}
				for _, network := range order {
					d, err := e.RunRm(env.Ctx, network)
					if err != nil {
						return err
					}
					took[network] = float64(d.Microseconds()) / 1000
				}
				env.Record(e.Name, took["bridge"]-took["none"])
				return nil
			})
		},
	})
}
