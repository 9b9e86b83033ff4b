package docker

import (
	dcontainer "github.com/moby/moby/api/types/container"

	"github.com/berthproject/berth/pkg/types/container"
)

// HealthConfig is Docker's Config.Healthcheck of h (nil stays nil).
func HealthConfig(h *container.HealthConfig) *dcontainer.HealthConfig {
	if h == nil {
		return nil
	}
	return &dcontainer.HealthConfig{
		Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
	}
}

// HealthConfigFrom is berth's healthcheck of Docker's (nil stays nil).
func HealthConfigFrom(h *dcontainer.HealthConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	return &container.HealthConfig{
		Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
	}
}

func health(h *container.Health) *dcontainer.Health {
	if h == nil {
		return nil
	}
	out := &dcontainer.Health{Status: dcontainer.HealthStatus(h.Status), FailingStreak: h.FailingStreak, Log: []*dcontainer.HealthcheckResult{}}
	for _, r := range h.Log {
		out.Log = append(out.Log, &dcontainer.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	return out
}

func healthSummary(status string) *dcontainer.HealthSummary {
	if status == "" {
		return nil
	}
	return &dcontainer.HealthSummary{Status: dcontainer.HealthStatus(status)}
}
