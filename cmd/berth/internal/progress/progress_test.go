package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlain(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, false, 0)
	r.Update(Event{Message: "latest: Pulling from app"})
	r.Update(Event{ID: "aaa", Status: "Waiting"})
	r.Update(Event{ID: "aaa", Status: "Downloading", Current: 1, Total: 10})
	r.Update(Event{ID: "aaa", Status: "Downloading", Current: 5, Total: 10})
	r.Update(Event{ID: "aaa", Status: "Pull complete", Current: 10, Total: 10})
	want := "latest: Pulling from app\naaa: Waiting\naaa: Downloading\naaa: Pull complete\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestTerminalRewritesLines(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true, 120)
	now := time.Unix(0, 0)
	r.now = func() time.Time { return now }
	r.Update(Event{ID: "aaa", Status: "Waiting"})
	r.Update(Event{ID: "bbb", Status: "Waiting"})
	b.Reset()
	r.Update(Event{ID: "aaa", Status: "Downloading", Current: 0, Total: 100 << 20})
	now = now.Add(time.Second)
	r.Update(Event{ID: "aaa", Status: "Downloading", Current: 50 << 20, Total: 100 << 20})
	out := b.String()
	// aaa is two lines up from the cursor: up 2, rewrite, down 2.
	if !strings.HasPrefix(out, "\x1b[2A\r\x1b[2Kaaa: Downloading [") || !strings.Contains(out, "\r\x1b[2B") {
		t.Errorf("no in-place rewrite: %q", out)
	}
	if !strings.Contains(out, "52.43MB/104.9MB") || !strings.Contains(out, "52.43MB/s") {
		t.Errorf("no bytes or speed: %q", out)
	}
}
