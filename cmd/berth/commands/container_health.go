package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// healthFlags are Docker's --health-* flags and --no-healthcheck.
func healthFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.StringFlag{Name: "health-cmd", Usage: "command to run to check health (run with /bin/sh -c)"},
			&cli.DurationFlag{Name: "health-interval", Usage: "time between running the check (ms|s|m|h)", DefaultText: "30s"},
			&cli.DurationFlag{Name: "health-timeout", Usage: "maximum time to allow one check to run (ms|s|m|h)", DefaultText: "30s"},
			&cli.IntFlag{Name: "health-retries", Usage: "consecutive failures needed to report unhealthy", DefaultText: "3"},
			&cli.DurationFlag{Name: "health-start-period", Usage: "start period for the container to initialize before failures count (ms|s|m|h)", DefaultText: "0s"},
			&cli.DurationFlag{Name: "health-start-interval", Usage: "time between running the check during the start period (ms|s|m|h)", DefaultText: "5s"},
			&cli.BoolFlag{Name: "no-healthcheck", Usage: "disable any container-specified HEALTHCHECK"},
		},
		apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
			names := []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval"}
			set := false
			for _, n := range names {
				set = set || c.IsSet(n)
			}
			if c.Bool("no-healthcheck") {
				if set {
					return fmt.Errorf("--no-healthcheck conflicts with --health-* options: give one or the other")
				}
				cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
				return nil
			}
			if !set {
				return nil
			}
			h := &container.HealthConfig{
				Interval:      c.Duration("health-interval"),
				Timeout:       c.Duration("health-timeout"),
				StartPeriod:   c.Duration("health-start-period"),
				StartInterval: c.Duration("health-start-interval"),
				Retries:       c.Int("health-retries"),
			}
			if cmd := c.String("health-cmd"); cmd != "" {
				h.Test = []string{"CMD-SHELL", cmd}
			}
			for _, d := range []struct {
				name string
				v    int64
			}{{"--health-interval", int64(h.Interval)}, {"--health-timeout", int64(h.Timeout)}, {"--health-start-period", int64(h.StartPeriod)}, {"--health-start-interval", int64(h.StartInterval)}} {
				if d.v < 0 {
					return fmt.Errorf("%s cannot be negative", d.name)
				}
			}
			if h.Retries < 0 {
				return fmt.Errorf("--health-retries cannot be negative")
			}
			cfg.Healthcheck = h
			return nil
		},
	}
}
