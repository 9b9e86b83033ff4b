package dockerapi

import (
	"testing"
	"time"
)

// `docker events --since 0 --until 1` sends since=0: the Unix epoch, not a
// zero duration before now (which made until lie before since: a 400).
func TestParseTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"0", time.Unix(0, 0)},
		{"1", time.Unix(1, 0)},
		{"1700000000.000000123", time.Unix(1_700_000_000, 123)},
		{"10m", now.Add(-10 * time.Minute)},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		got, err := parseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseTime("yesterday", now); err == nil {
		t.Error(`parseTime("yesterday") gave no error`)
	}
}
