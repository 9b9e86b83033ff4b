// Package metrics stands in for docker/go-metrics in berth's containerd,
// whose garbage collector (plugins/gc) counts its collections and times
// them with it. Nothing in berth's containerd can read them (see
// cmd/containerd/metrics/client_golang/prometheus): the counters count
// nothing. There is no Handler here, so containerd's metrics server plugin
// does not build against it.
package metrics

import "time"

// Labels are a namespace's constant labels.
type Labels map[string]string

// Namespace groups metrics under one prefix.
type Namespace struct{}

// NewNamespace returns a namespace of metrics that are kept nowhere.
func NewNamespace(name, subsystem string, labels Labels) *Namespace { return &Namespace{} }

// Counter counts.
type Counter interface {
	Inc(...float64)
}

// LabeledCounter is a counter per set of label values.
type LabeledCounter interface {
	WithValues(...string) Counter
}

// Timer times.
type Timer interface {
	Update(time.Duration)
	UpdateSince(time.Time)
}

type nothing struct{}

func (nothing) Inc(...float64)               {}
func (nothing) WithValues(...string) Counter { return nothing{} }
func (nothing) Update(time.Duration)         {}
func (nothing) UpdateSince(time.Time)        {}

// NewCounter returns a counter that counts nothing.
func (*Namespace) NewCounter(name, help string) Counter { return nothing{} }

// NewLabeledCounter returns a counter that counts nothing.
func (*Namespace) NewLabeledCounter(name, help string, labels ...string) LabeledCounter {
	return nothing{}
}

// NewTimer returns a timer that keeps nothing.
func (*Namespace) NewTimer(name, help string) Timer { return nothing{} }

// Register keeps nothing.
func Register(*Namespace) {}
