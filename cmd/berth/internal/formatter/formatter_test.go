package formatter

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type row struct {
	ID    string
	Names string
	Tags  []string
}

func (r row) Label(k string) string { return "v-" + k }

var headers = map[string]string{"ID": "CONTAINER ID", "Names": "NAMES"}

func render(t *testing.T, format string, rows ...any) string {
	t.Helper()
	f, err := Parse(format, `table {{.ID}}\t{{.Names}}`)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, headers, rows); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestTemplates(t *testing.T) {
	a := row{ID: "abc", Names: "web", Tags: []string{"x", "y"}}
	b := row{ID: "defdefdefdef", Names: "db"}
	cases := []struct {
		format string
		want   string
	}{
		{`{{.ID}}`, "abc\ndefdefdefdef\n"},
		{`{{.ID}}:{{.Names}}`, "abc:web\ndefdefdefdef:db\n"},
		{`{{json .Names}}`, "\"web\"\n\"db\"\n"},
		{`{{join .Tags ","}}|{{upper .Names}}|{{title .Names}}|{{truncate .ID 2}}|{{pad .Names 1 1}}|{{.Label "k"}}`,
			"x,y|WEB|Web|ab| web |v-k\n|DB|Db|de| db |v-k\n"},
		// The default table: header, then columns padded to the widest cell + 3.
		{``, "CONTAINER ID   NAMES\nabc            web\ndefdefdefdef   db\n"},
		{`table`, "CONTAINER ID   NAMES\nabc            web\ndefdefdefdef   db\n"},
		{`table {{.Names}}\t{{.ID}}`, "NAMES     CONTAINER ID\nweb       abc\ndb        defdefdefdef\n"},
	}
	for _, c := range cases {
		if got := render(t, c.format, a, b); got != c.want {
			t.Errorf("format %q:\n got %q\nwant %q", c.format, got, c.want)
		}
	}
}

func TestJSONKeyword(t *testing.T) {
	got := render(t, "json", row{ID: "a", Names: "n"})
	if want := `{"ID":"a","Names":"n","Tags":null}` + "\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestBadTemplate(t *testing.T) {
	if _, err := Parse(`{{.ID`, ""); err == nil {
		t.Fatal("unterminated template parsed")
	}
	f, err := Parse(`{{.Nope}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(&bytes.Buffer{}, nil, []any{row{}}); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("unknown field: err = %v", err)
	}
}

func TestDurationsAndStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		got, want string
	}{
		{ContainerStatus("running", 0, now.Add(-3*time.Minute), time.Time{}, now), "Up 3 minutes"},
		{ContainerStatus("running", 0, now.Add(-200*time.Millisecond), time.Time{}, now), "Up Less than a second"},
		{ContainerStatus("paused", 0, now.Add(-2*time.Hour), time.Time{}, now), "Up 2 hours (Paused)"},
		{ContainerStatus("exited", 0, now.Add(-time.Hour), now.Add(-2*time.Second), now), "Exited (0) 2 seconds ago"},
		{ContainerStatus("exited", 137, now.Add(-time.Hour), now.Add(-50*time.Second), now), "Exited (137) 50 seconds ago"},
		{ContainerStatus("created", 0, time.Time{}, time.Time{}, now), "Created"},
		{ContainerStatus("restarting", 1, now, now.Add(-5*time.Second), now), "Restarting (1) 5 seconds ago"},
		{Ago(now.Add(-90*time.Second), now), "About a minute ago"},
		{Ago(now.Add(-49*time.Hour), now), "2 days ago"},
		{HumanDuration(45 * time.Minute), "45 minutes"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q want %q", c.got, c.want)
		}
	}
}

func TestSizesAndIDs(t *testing.T) {
	cases := []struct{ got, want string }{
		{HumanSize(4_200_000), "4.2MB"},
		{HumanSize(1_234_567_890), "1.23GB"},
		{HumanSize(512), "512B"},
		{HumanSize(0), "0B"},
		{TruncateID("sha256:0123456789abcdef0123"), "0123456789ab"},
		{TruncateID("0123456789abcdef"), "0123456789ab"},
		{TruncateID("abc"), "abc"},
		{Ellipsis("sh -c 'echo hello world'", 20), "sh -c 'echo hello w…"},
		{Ellipsis("short", 20), "short"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q want %q", c.got, c.want)
		}
	}
}
