package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Scenario is one measurement. Scenarios register themselves from their
// own files (func init() { Register(Scenario{...}) }) and run in the order
// of their Order field.
//
// Run measures every engine in env.Engines, interleaved round-robin (use
// env.RoundRobin), and records samples with env.Record. A scenario that
// needs something the machine lacks calls env.Skip (or returns an error:
// the report shows it and the other scenarios still run).
type Scenario struct {
	Name  string // unique, used by --scenarios (e.g. "run-rm/bridge")
	Title string // table heading
	Group string // report section
	Unit  string // "ms" or "kB"
	Order int
	// Target, when set, is berth's goal for this scenario (median, or
	// ratio to a peer); it is checked in the report.
	Target *Target
	Run    func(env *Env) error
}

// Target is a goal for berth: Value in the scenario's unit (median), or,
// when Peer is set, at most Ratio × that peer's median.
type Target struct {
	Text  string
	Value float64
	Peer  string
	Ratio float64
}

var (
	registryMu sync.Mutex
	registry   []Scenario
)

// Register adds a scenario (called from init functions).
func Register(s Scenario) {
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, o := range registry {
		if o.Name == s.Name {
			panic("bench: scenario registered twice: " + s.Name)
		}
	}
	registry = append(registry, s)
}

// Scenarios returns the registered scenarios in order.
func Scenarios() []Scenario {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := append([]Scenario(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// Env is what a scenario runs with.
type Env struct {
	Ctx     context.Context
	Quick   bool
	Reps    int       // repetitions for short scenarios (30, --quick 5)
	Engines []*Engine // berth first
	Bench   *Bench    // the run: dirs, archives, extra host set-up helpers

	result *ScenarioResult
}

// Also returns an Env that records into another result of the same run
// (created on first use, listed right after the current one): for a
// scenario that yields several measurements (e.g. start 50, then rm them).
func (env *Env) Also(name, title, unit string, target *Target) *Env {
	res := env.Bench.results
	for _, r := range res.Scenarios {
		if r.Name == name {
			c := *env
			c.result = r
			return &c
		}
	}
	r := &ScenarioResult{Name: name, Title: title, Group: env.result.Group, Unit: unit, Target: target}
	res.Scenarios = append(res.Scenarios, r)
	c := *env
	c.result = r
	return &c
}

// RepsFor picks a repetition count by mode.
func (env *Env) RepsFor(full, quick int) int {
	if env.Quick {
		return quick
	}
	return full
}

// Engine returns the named engine, or nil when it is not measured.
func (env *Env) Engine(name string) *Engine {
	for _, e := range env.Engines {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Record adds a sample for an engine.
func (env *Env) Record(engine string, v float64) {
	s := env.series(engine)
	s.Samples = append(s.Samples, v)
}

// RecordDuration adds a sample in milliseconds.
func (env *Env) RecordDuration(engine string, d time.Duration) {
	env.Record(engine, float64(d.Microseconds())/1000)
}

// Fail marks an engine's series as failed (it is shown, not hidden).
func (env *Env) Fail(engine string, err error) {
	s := env.series(engine)
	if s.Error == "" {
		s.Error = err.Error()
	}
	logf("%s: %s: %v", env.result.Name, engine, err)
}

// Note adds a line under the scenario's table.
func (env *Env) Note(format string, args ...any) {
	env.result.Notes = append(env.result.Notes, fmt.Sprintf(format, args...))
}

// Skip marks the whole scenario as not run, with a reason.
func (env *Env) Skip(reason string) { env.result.Skipped = reason }

func (env *Env) series(engine string) *Series {
	for _, s := range env.result.Series {
		if s.Engine == engine {
			return s
		}
	}
	s := &Series{Engine: engine}
	env.result.Series = append(env.result.Series, s)
	return s
}

// RoundRobin runs f(i, e) for i in [0, n) over the engines, rotating which
// engine goes first each round so that every engine sees the same noise.
// An engine whose f fails is dropped from later rounds; a cancelled
// context stops it.
func (env *Env) RoundRobin(n int, engines []*Engine, f func(i int, e *Engine) error) error {
	failed := map[string]bool{}
	for i := 0; i < n; i++ {
		for k := range engines {
			e := engines[(i+k)%len(engines)]
			if failed[e.Name] {
				continue
			}
			if err := env.Ctx.Err(); err != nil {
				return err
			}
			if err := f(i, e); err != nil {
				if env.Ctx.Err() != nil {
					return env.Ctx.Err()
				}
				failed[e.Name] = true
				env.Fail(e.Name, err)
			}
		}
	}
	return env.Ctx.Err()
}

// Results of a run.

// Results is the whole run, as written to the raw JSON file.
type Results struct {
	Quick     bool              `json:"quick"`
	Reps      int               `json:"reps"`
	Command   string            `json:"command"`
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Machine   map[string]string `json:"machine"`
	Engines   []EngineInfo      `json:"engines"`
	Scenarios []*ScenarioResult `json:"scenarios"`
	Breakdown []*Breakdown      `json:"breakdown,omitempty"`
	Notes     []string          `json:"notes,omitempty"`
	Commit    string            `json:"commit"`
}

// EngineInfo describes an engine as measured.
type EngineInfo struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Parts   map[string]string `json:"parts"`
	Notes   []string          `json:"notes"`
	Error   string            `json:"error,omitempty"`
}

// ScenarioResult is one scenario's samples per engine.
type ScenarioResult struct {
	Name    string    `json:"name"`
	Title   string    `json:"title"`
	Group   string    `json:"group"`
	Unit    string    `json:"unit"`
	Target  *Target   `json:"target,omitempty"`
	Series  []*Series `json:"series"`
	Notes   []string  `json:"notes,omitempty"`
	Skipped string    `json:"skipped,omitempty"`
	Error   string    `json:"error,omitempty"`
	Seconds float64   `json:"seconds"`
}

// Series is one engine's samples in a scenario.
type Series struct {
	Engine  string    `json:"engine"`
	Samples []float64 `json:"samples"`
	Error   string    `json:"error,omitempty"`
}

// Stats summarises samples.
type Stats struct {
	N                             int
	Median, P90, Min, Max, Q1, Q3 float64
}

// Summary computes the statistics of s (nearest-rank p90, interpolated
// quartiles and median).
func (s *Series) Summary() Stats {
	v := append([]float64(nil), s.Samples...)
	sort.Float64s(v)
	st := Stats{N: len(v)}
	if len(v) == 0 {
		return st
	}
	st.Min, st.Max = v[0], v[len(v)-1]
	st.Median = quantile(v, 0.5)
	st.Q1, st.Q3 = quantile(v, 0.25), quantile(v, 0.75)
	st.P90 = v[int(math.Ceil(0.9*float64(len(v))))-1]
	return st
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// seriesOf returns the engine's series in r (nil if none).
func (r *ScenarioResult) seriesOf(engine string) *Series {
	for _, s := range r.Series {
		if s.Engine == engine {
			return s
		}
	}
	return nil
}
