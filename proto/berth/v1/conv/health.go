package conv

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// HealthConfigToProto converts a healthcheck; nil stays nil.
func HealthConfigToProto(h *container.HealthConfig) *berthv1.HealthConfig {
	if h == nil {
		return nil
	}
	d := func(v time.Duration) *durationpb.Duration {
		if v == 0 {
			return nil
		}
		return durationpb.New(v)
	}
	return &berthv1.HealthConfig{
		Test:          h.Test,
		Interval:      d(h.Interval),
		Timeout:       d(h.Timeout),
		StartPeriod:   d(h.StartPeriod),
		StartInterval: d(h.StartInterval),
		Retries:       int64(h.Retries),
	}
}

// HealthConfigFromProto is the inverse of HealthConfigToProto.
func HealthConfigFromProto(p *berthv1.HealthConfig) *container.HealthConfig {
	if p == nil {
		return nil
	}
	d := func(v *durationpb.Duration) time.Duration {
		if v == nil {
			return 0
		}
		return v.AsDuration()
	}
	return &container.HealthConfig{
		Test:          p.GetTest(),
		Interval:      d(p.GetInterval()),
		Timeout:       d(p.GetTimeout()),
		StartPeriod:   d(p.GetStartPeriod()),
		StartInterval: d(p.GetStartInterval()),
		Retries:       int(p.GetRetries()),
	}
}

// HealthToProto converts a container's health; nil stays nil.
func HealthToProto(h *container.Health) *berthv1.Health {
	if h == nil {
		return nil
	}
	p := &berthv1.Health{Status: h.Status, FailingStreak: int64(h.FailingStreak)}
	for _, r := range h.Log {
		p.Log = append(p.Log, &berthv1.HealthcheckResult{
			Start: Timestamp(r.Start), End: Timestamp(r.End), ExitCode: int64(r.ExitCode), Output: r.Output,
		})
	}
	return p
}

// HealthFromProto is the inverse of HealthToProto.
func HealthFromProto(p *berthv1.Health) *container.Health {
	if p == nil {
		return nil
	}
	h := &container.Health{Status: p.GetStatus(), FailingStreak: int(p.GetFailingStreak()), Log: []container.HealthcheckResult{}}
	for _, r := range p.GetLog() {
		h.Log = append(h.Log, container.HealthcheckResult{
			Start: Time(r.GetStart()), End: Time(r.GetEnd()), ExitCode: int(r.GetExitCode()), Output: r.GetOutput(),
		})
	}
	return h
}
