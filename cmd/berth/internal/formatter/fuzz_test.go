package formatter

import (
	"errors"
	"testing"
	"time"
)

// limitWriter fails once more than n bytes are written: a template that
// would print without end ends with an error instead.
type limitWriter struct{ n int }

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("output limit")
	}
	return len(p), nil
}

type fuzzRow struct {
	ID      string
	Names   []string
	Labels  map[string]string
	Size    int64
	Created time.Time
	Nested  *fuzzRow
}

func (r fuzzRow) Label(k string) string { return r.Labels[k] }

// FuzzFormat parses any --format value and renders rows and a table
// header with it: an error or output, never a panic.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{"table {{.ID}}\t{{.Size}}", "json", "", "table", "{{json .}}",
		`{{.Label "a"}}`, `{{pad .ID 2 3}}`, `{{truncate .ID -1}}`, `{{join .Names ","}}`, `{{.Nested.ID}}`,
		`{{range .Names}}{{upper .}}{{end}}`, `{{split .ID ""}}`, `{{title .ID}}\n{{println .Size}}`, "{{", `{{pad "" -1 -1}}`, `{{pad "" 1099511627776 0}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, format string) {
		fm, err := Parse(format, "table {{.ID}}")
		if err != nil {
			return
		}
		rows := []any{fuzzRow{ID: "abc", Names: []string{"x", "y"}, Labels: map[string]string{"a": "b"}, Size: 5}, fuzzRow{}}
		headers := map[string]string{"ID": "CONTAINER ID", "Size": "SIZE"}
		_ = fm.Write(&limitWriter{n: 1 << 20}, headers, rows)
	})
}
