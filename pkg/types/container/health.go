package container

import (
	"fmt"
	"strings"
	"time"
)

// HealthConfig is a container's healthcheck (Docker's Config.Healthcheck,
// same JSON: durations in nanoseconds). Test is ["NONE"] (disabled),
// ["CMD", arg...] or ["CMD-SHELL", command]; an empty Test inherits the
// image's. Zero durations and retries take the image's value, else
// Docker's defaults (see the Default constants).
type HealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// Docker's healthcheck defaults.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
	// HealthMaxOutput is how much of a probe's output is kept (Docker's 4 KiB).
	HealthMaxOutput = 4096
	// HealthMaxLog is how many probe results are kept (Docker's 5).
	HealthMaxLog = 5
)

// Health status values, as Docker names them.
const (
	HealthNone      = "none"
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is a container's health (Docker's State.Health).
type Health struct {
	Status        string              `json:"Status"`
	FailingStreak int                 `json:"FailingStreak"`
	Log           []HealthcheckResult `json:"Log"`
}

// HealthcheckResult is one probe's result. ExitCode -1 is a probe that could
// not run or was killed at its timeout.
type HealthcheckResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// Enabled reports whether h describes a probe to run.
func (h *HealthConfig) Enabled() bool {
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// Validate checks h as Docker does at create.
func (h *HealthConfig) Validate() error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
		if d.v != 0 && d.v < time.Millisecond {
			return fmt.Errorf("%s in Healthcheck cannot be less than 1ms: give 0 (the default) or at least 1ms, not %v", d.name, d.v)
		}
	}
	if h.Retries < 0 {
		return fmt.Errorf("Retries in Healthcheck cannot be negative (%d): give 0 (the default) or more", h.Retries)
	}
	if len(h.Test) == 0 {
		return nil
	}
	switch h.Test[0] {
	case "NONE":
	case "CMD", "CMD-SHELL":
		if len(h.Test) < 2 || strings.TrimSpace(strings.Join(h.Test[1:], "")) == "" {
			return fmt.Errorf("healthcheck test %s has no command: give one, or NONE to disable the image's healthcheck", h.Test[0])
		}
	default:
		return fmt.Errorf("healthcheck test %q: the first element must be NONE, CMD or CMD-SHELL", h.Test[0])
	}
	return nil
}

// MergeHealthConfig is Docker's merge of a container's healthcheck with its
// image's: a nil container healthcheck takes the image's; an empty test and
// zero fields take the image's values.
func MergeHealthConfig(c, image *HealthConfig) *HealthConfig {
	if image == nil {
		return c
	}
	if c == nil {
		cp := *image
		return &cp
	}
	out := *c
	if len(out.Test) == 0 {
		out.Test = image.Test
	}
	if out.Interval == 0 {
		out.Interval = image.Interval
	}
	if out.Timeout == 0 {
		out.Timeout = image.Timeout
	}
	if out.StartPeriod == 0 {
		out.StartPeriod = image.StartPeriod
	}
	if out.StartInterval == 0 {
		out.StartInterval = image.StartInterval
	}
	if out.Retries == 0 {
		out.Retries = image.Retries
	}
	return &out
}

// WithDefaults returns h with Docker's defaults for its zero fields.
func (h HealthConfig) WithDefaults() HealthConfig {
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.StartInterval == 0 {
		h.StartInterval = DefaultHealthStartInterval
	}
	if h.Retries == 0 {
		h.Retries = DefaultHealthRetries
	}
	return h
}

// HealthStatusText is the part of `ps`'s STATUS column Docker adds for a
// running container with a healthcheck: "health: starting", "healthy",
// "unhealthy".
func HealthStatusText(status string) string {
	if status == HealthStarting {
		return "health: starting"
	}
	return status
}
