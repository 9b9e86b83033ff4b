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
