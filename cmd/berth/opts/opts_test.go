package opts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/types/container"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestEnv(t *testing.T) {
	got, err := Env([]string{"A=1", "B=", "HOME", "UNSET", "C=x=y"}, lookup(map[string]string{"HOME": "/root"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B=", "HOME=/root", "C=x=y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
	if _, err := Env([]string{"=x"}, lookup(nil)); err == nil {
		t.Error("empty name accepted")
	}
}

func TestEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	content := "# comment\n\nA=1\n  B=two words\nQUOTED=\"kept\"\nFROMHOST\r\nGONE\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := EnvFile(p, lookup(map[string]string{"FROMHOST": "h"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B=two words", `QUOTED="kept"`, "FROMHOST=h"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
	if err := os.WriteFile(p, []byte("BAD NAME=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnvFile(p, lookup(nil)); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: err = %v", err)
	}
	if _, err := EnvFile(filepath.Join(t.TempDir(), "missing"), lookup(nil)); err == nil {
		t.Error("missing file accepted")
	}
}

func TestLabels(t *testing.T) {
	got, err := Labels([]string{"a=1", "b", "c=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "1", "b": "", "c": "x=y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if _, err := Labels([]string{"=v"}); err == nil {
		t.Error("empty key accepted")
	}
}

func TestRestartPolicy(t *testing.T) {
	good := map[string]container.RestartPolicy{
		"":               {},
		"no":             {Name: "no"},
		"always":         {Name: "always"},
		"unless-stopped": {Name: "unless-stopped"},
		"on-failure":     {Name: "on-failure"},
		"on-failure:3":   {Name: "on-failure", MaximumRetryCount: 3},
	}
	for in, want := range good {
		got, err := RestartPolicy(in)
		if err != nil || got != want {
			t.Errorf("%q: got %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"sometimes", "always:3", "on-failure:x", "on-failure:-1"} {
		if _, err := RestartPolicy(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestLogConfig(t *testing.T) {
	got, err := LogConfig([]string{"max-size=10m", "max-file=5"})
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxSize != 10<<20 || got.MaxFiles != 5 {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"max-size", "max-size=huge", "max-file=0", "compress=true"} {
		if _, err := LogConfig([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFilters(t *testing.T) {
	got, err := Filters([]string{"status=exited", "label=a=b", "Status=created"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"status": {"exited", "created"}, "label": {"a=b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if _, err := Filters([]string{"nokey"}); err == nil {
		t.Error("filter without = accepted")
	}
}

func TestTimestamp(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"10m":                            now.Add(-10 * time.Minute),
		"1h30m":                          now.Add(-90 * time.Minute),
		"2026-03-04T09:00:00Z":           time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC),
		"2026-03-04T09:00:00.5+01:00":    time.Date(2026, 3, 4, 8, 0, 0, 500_000_000, time.UTC),
		"2026-03-04T09:00:00.123456789Z": time.Date(2026, 3, 4, 9, 0, 0, 123456789, time.UTC),
		"2026-03-04":                     time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC),
		"2026-03-04T09:30":               time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC),
		"1700000000":                     time.Unix(1700000000, 0),
		"1700000000.25":                  time.Unix(1700000000, 250_000_000),
	}
	for in, want := range cases {
		got, err := Timestamp(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	if got, err := Timestamp("", now); err != nil || !got.IsZero() {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"yesterday", "-10m", "2026-13-01", "12abc"} {
		if _, err := Timestamp(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDetachKeys(t *testing.T) {
	good := map[string][]byte{
		"ctrl-p,ctrl-q": {16, 17},
		"ctrl-a":        {1},
		"CTRL-Z":        {26},
		"ctrl-@,x":      {0, 'x'},
		"ctrl-[":        {27},
		"ctrl-_":        {31},
	}
	for in, want := range good {
		got, err := DetachKeys(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ctrl-", "ctrl-1", "alt-x", "ab"} {
		if _, err := DetachKeys(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
