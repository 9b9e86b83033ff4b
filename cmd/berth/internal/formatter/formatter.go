// Package formatter renders command output the way Docker's --format does:
// Go templates ({{.ID}}, {{json .}}), "table" templates with headers aligned
// by text/tabwriter, and the human strings Docker users know ("Up 3 minutes",
// "Exited (0) 2 seconds ago", "4.2MB").
package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

const (
	// TableKeyword starts a table format: "table {{.ID}}\t{{.Names}}".
	TableKeyword = "table"
	// JSONKeyword is the shorthand for "{{json .}}".
	JSONKeyword = "json"
)

// Format is a parsed --format value.
type Format struct {
	tmpl  *template.Template
	table bool
}

// Parse parses a --format value. An empty value or the bare word "table"
// selects defaultTable (itself a "table ..." format); "json" means
// {{json .}}. As in Docker, the two-character sequences `\t` and `\n` in the
// value stand for a tab and a newline, so shells need no special quoting.
func Parse(format, defaultTable string) (*Format, error) {
	switch strings.TrimSpace(format) {
	case "", TableKeyword:
		format = defaultTable
	case JSONKeyword:
		format = "{{json .}}"
	}
	f := &Format{}
	if rest, ok := strings.CutPrefix(format, TableKeyword); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		f.table = true
		format = strings.TrimLeft(rest, " ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := template.New("format").Funcs(Funcs()).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("invalid --format template: %w", err)
	}
	f.tmpl = tmpl
	return f, nil
}

// IsTable reports whether the format prints a header and aligned columns.
func (f *Format) IsTable() bool { return f.table }

// Execute renders one value with the template, without a trailing newline.
func (f *Format) Execute(w io.Writer, v any) error {
	if err := f.tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

// Write renders rows, one per line. For a table format the first line is the
// header: the same template executed on headers (field name → column title),
// and all lines are aligned with a tabwriter, as Docker does.
func (f *Format) Write(w io.Writer, headers map[string]string, rows []any) error {
	var out io.Writer = w
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		var hdr bytes.Buffer
		// A template calling a method (e.g. {{.Label "x"}}) cannot run on
		// the header map; Docker then prints no header line, and so do we.
		if err := f.tmpl.Execute(&hdr, headers); err == nil {
			hdr.WriteByte('\n')
			if _, err := out.Write(hdr.Bytes()); err != nil {
				return err
			}
		}
	}
	for _, r := range rows {
		var line bytes.Buffer
		if err := f.Execute(&line, r); err != nil {
			return err
		}
		line.WriteByte('\n')
		if _, err := out.Write(line.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// Funcs are the functions available in --format templates (Docker's set).
func Funcs() template.FuncMap {
	title := cases.Title(language.Und, cases.NoLower)
	return template.FuncMap{
		"json": func(v any) (string, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimSuffix(buf.String(), "\n"), nil
		},
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    title.String,
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      Pad,
		"truncate": Truncate,
		"println":  fmt.Sprintln,
	}
}

// maxPad bounds pad's counts: `{{pad "" 1099511627776 0}}` would ask for
// a terabyte and kill the CLI with an out-of-memory error.
const maxPad = 1 << 16

// Pad surrounds s with left and right spaces (each 0 to 65536).
func Pad(s string, left, right int) (string, error) {
	if left < 0 || right < 0 || left > maxPad || right > maxPad {
		return "", fmt.Errorf("pad %d %d: the counts of spaces must be 0 to %d", left, right, maxPad)
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", right), nil
}

// Truncate keeps the first n runes of s.
func Truncate(s string, n int) string {
	if n < 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Ellipsis shortens s to at most n runes, ending with "…" when cut.
func Ellipsis(s string, n int) string {
	r := []rune(s)
	if n <= 0 || len(r) <= n {
		return s
	}
	if n == 1 {
		return string(r[:1])
	}
	return string(r[:n-1]) + "…"
}

// ShortIDLength is how many hex digits Docker shows of an ID.
const ShortIDLength = 12

// TruncateID drops a "sha256:" prefix and keeps 12 hex digits.
func TruncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > ShortIDLength {
		id = id[:ShortIDLength]
	}
	return id
}
