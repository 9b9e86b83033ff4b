// Package opts parses the values of berth's CLI flags (env files, labels,
// restart policies, log options, times, filters) into engine types. It has no
// CLI framework in it so every rule is testable alone.
package opts

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/berthproject/berth/pkg/types/container"
)

// Env turns -e values into KEY=VALUE entries. A bare KEY takes its value from
// the caller's environment and is dropped when unset, as in Docker.
func Env(values []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range values {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid environment variable %q: the name is empty", v)
		}
		if hasValue {
			out = append(out, v)
			continue
		}
		if val, ok := lookup(k); ok {
			out = append(out, k+"="+val)
		}
	}
	return out, nil
}

// maxEnvLine bounds a line of an env file (a variable's value included).
const maxEnvLine = 1 << 20

// EnvFile reads a Docker env file: one KEY=VALUE per line, blank lines and
// lines starting with # ignored, a bare KEY taken from the caller's
// environment. Values are taken literally (no quotes are removed).
func EnvFile(path string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxEnvLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, _, _ := strings.Cut(line, "="); k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: invalid variable name %q", path, n, k)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than %d bytes: not an env file", path, maxEnvLine)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Env(lines, lookup)
}

// Labels turns KEY=VALUE (or KEY, an empty value) entries into a map.
func Labels(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label %q: the key is empty", v)
		}
		m[k] = val
	}
	return m, nil
}

// LabelFile reads labels from a file, one KEY=VALUE per line (# comments).
func LabelFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, nil
}

// RestartPolicy parses --restart: no, always, unless-stopped, on-failure[:N].
func RestartPolicy(v string) (container.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(v, ":")
	p := container.RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasCount {
			return p, fmt.Errorf("invalid restart policy %q: only on-failure takes a maximum retry count", v)
		}
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, fmt.Errorf("invalid restart policy %q: the retry count must be a number >= 0", v)
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, fmt.Errorf("invalid restart policy %q: use no, always, unless-stopped or on-failure[:max-retries]", v)
	}
	return p, nil
}

// LogConfig parses --log-opt KEY=VALUE entries: max-size (e.g. 10m) and
// max-file (a count).
func LogConfig(values []string) (container.LogConfig, error) {
	var lc container.LogConfig
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return lc, fmt.Errorf("invalid --log-opt %q: want key=value", v)
		}
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(val)
			if err != nil || n <= 0 {
				return lc, fmt.Errorf("invalid --log-opt max-size=%s: want a size such as 10m", val)
			}
			lc.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return lc, fmt.Errorf("invalid --log-opt max-file=%s: want a count >= 1", val)
			}
			lc.MaxFiles = n
		default:
			return lc, fmt.Errorf("unknown --log-opt %q: berth's json-file logs take max-size and max-file", k)
		}
	}
	return lc, nil
}

// Filters parses --filter KEY=VALUE entries into a map of values by key.
func Filters(values []string) (map[string][]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string][]string)
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad format of filter %q: want key=value", v)
		}
		m[strings.ToLower(k)] = append(m[strings.ToLower(k)], val)
	}
	return m, nil
}

// Timestamp parses --since/--until values: RFC 3339 (with or without
// fractions and zone), a date (2006-01-02), a date and time without zone
// (taken as local time), Unix seconds ("1700000000" or "1700000000.5"), or
// a duration before now ("10m", "1h30m", "90s").
func Timestamp(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("invalid time %q: a relative time must be positive (10m means ten minutes ago)", v)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			return t, nil
		}
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" {
		s, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			var ns int64
			if frac != "" {
				if len(frac) > 9 {
					frac = frac[:9]
				}
				f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
				if err != nil {
					return time.Time{}, badTime(v)
				}
				ns = f
			}
			return time.Unix(s, ns), nil
		}
	}
	return time.Time{}, badTime(v)
}

func badTime(v string) error {
	return fmt.Errorf("invalid time %q: use RFC 3339 (2026-01-02T15:04:05Z), a Unix timestamp, or a duration such as 10m", v)
}

// StopTimeout turns a seconds value into the engine's StopOptions timeout;
// negative means wait forever (as Docker's -1), nil keeps the default.
func StopTimeout(seconds int, set bool) *time.Duration {
	if !set {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

// DefaultDetachKeys is Docker's sequence to detach from a container.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// DetachKeys parses a --detach-keys value: comma-separated keys, each a
// single character or ctrl-<c> with <c> one of a-z, @, [, \, ], ^, _.
func DetachKeys(v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("invalid --detach-keys: empty")
	}
	var keys []byte
	for _, k := range strings.Split(v, ",") {
		if len(k) == 1 {
			keys = append(keys, k[0])
			continue
		}
		c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(c) != 1 {
			return nil, fmt.Errorf("invalid --detach-keys %q: want keys like ctrl-p,ctrl-q or a single character", v)
		}
		switch b := c[0]; {
		case b >= 'a' && b <= 'z':
			keys = append(keys, b-'a'+1)
		case b == '@':
			keys = append(keys, 0)
		case b == '[', b == '\\', b == ']', b == '^', b == '_':
			keys = append(keys, b-'@')
		default:
			return nil, fmt.Errorf("invalid --detach-keys %q: unknown key ctrl-%s", v, c)
		}
	}
	return keys, nil
}
