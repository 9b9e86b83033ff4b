package logfile

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// checkDecode asserts that a line reads the same through decodeEntry as
// through encoding/json: the same entry, or decodeEntry declining it.
func checkDecode(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	e, ok := decodeEntry(line)
	var je jsonEntry
	jerr := json.Unmarshal(line, &je)
	if !ok {
		return false
	}
	if jerr != nil {
		t.Fatalf("decodeEntry took %q, which encoding/json refuses: %v", line, jerr)
	}
	if !bytes.Equal(e.Line, []byte(je.Log)) || e.Stream != je.Stream || !e.Time.Equal(je.Time) ||
		e.Time.Format(time.RFC3339Nano) != je.Time.Format(time.RFC3339Nano) {
		t.Fatalf("%q:\n decodeEntry   %q %q %v\n encoding/json %q %q %v", line, e.Line, e.Stream, e.Time, je.Log, je.Stream, je.Time)
	}
	return true
}

func TestDecodeEntryAsEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 12, 7, 17, 50, 1, 123456789, time.UTC)
	// What the Writer makes: every byte value, both streams, times with
	// and without fractions. All of it takes the fast path.
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 3000 {
		b := make([]byte, rng.IntN(300))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		if i%2 == 0 {
			copy(b, "ünïcode ✓ \u2028 \"q\" \\ \t\r\n\x00\x1f")
		}
		stream := []string{"stdout", "stderr"}[i%2]
		t1 := ts.Add(time.Duration(i) * 333 * time.Millisecond)
		line := bytes.TrimSuffix(appendEntry(nil, stream, b, t1), []byte("\n"))
		if !checkDecode(t, line) {
			t.Fatalf("the Writer's own line %q took the slow path", line)
		}
	}
	// Lines from elsewhere: the fast path takes them as encoding/json
	// does, or leaves them to it.
	for _, s := range []string{
		`{"log":"a\/b\b\f\u00e9\u2028\n","stream":"stdout","time":"2026-12-07T17:50:01Z"}`,
		`{"log":"\ud83d\ude00","stream":"stdout","time":"2026-12-07T17:50:01Z"}`,
		`{"log":"\ud83d","stream":"stdout","time":"2026-12-07T17:50:01Z"}`,
		`{"log":"bad \x escape","stream":"stdout","time":"2026-12-07T17:50:01Z"}`,
		"{\"log\":\"raw \xff byte\",\"stream\":\"stdout\",\"time\":\"2026-12-07T17:50:01Z\"}",
		"{\"log\":\"raw \x01 control\",\"stream\":\"stdout\",\"time\":\"2026-12-07T17:50:01Z\"}",
		`{"log":"x","stream":"stdin","time":"2026-12-07T17:50:01Z"}`,
		`{"log":"x","stream":"stdout","attrs":{"a":"b"},"time":"2026-12-07T17:50:01Z"}`,
		`{"log":"x","stream":"stdout","time":"2026-12-07T17:50:01+02:00"}`,
		`{"log":"x","stream":"stdout","time":"2026-12-07T17:50:01.000-03:30"}`,
		`{"log":"x","stream":"stdout","time":"2026-12-07 17:50:01"}`,
		`{"log":"x","stream":"stdout","time":"2026-12-07T17:50:01Z"} `,
		`{"log":"x","stream":"stdout","time":"2026-12-07T17:50:01Z","x":"y"}`,
		`{"log":"unterminated`,
		`{"log":"trailing backslash\`,
		`{"stream":"stdout","log":"x","time":"2026-12-07T17:50:01Z"}`,
	} {
		checkDecode(t, []byte(s))
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"log":"hello\n","stream":"stdout","time":"2026-12-07T17:50:01.5Z"}`))
	f.Add([]byte(`{"log":"\u00e9\\\"","stream":"stderr","time":"2026-12-07T17:50:01Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}
