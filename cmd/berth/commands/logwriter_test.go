package commands

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a terminal that shows stdout and stderr together.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogWriterKeepsTheOrderOfStreams(t *testing.T) {
	var term syncBuffer
	lw := newLogWriter(&term, &term)
	var want strings.Builder
	for i := range 20000 {
		stream := "stdout"
		if i%7 == 3 || i%100 > 90 {
			stream = "stderr"
		}
		line := fmt.Sprintf("%s %d\n", stream, i)
		want.WriteString("> " + line)
		if err := lw.write(stream, []byte("> "), []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.flush(); err != nil {
		t.Fatal(err)
	}
	if got := term.String(); got != want.String() {
		t.Fatalf("the terminal shows %d bytes, want %d in the order written", len(got), want.Len())
	}
	if term.writes > 20000/2 {
		t.Errorf("%d writes for 20000 lines: the lines were not buffered", term.writes)
	}
}

// A followed line shows without waiting for more lines or the end.
func TestLogWriterShowsALineThatWaits(t *testing.T) {
	var out, errw syncBuffer
	lw := newLogWriter(&out, &errw)
	if err := lw.write("stderr", []byte("waiting\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for errw.String() != "waiting\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the line was still buffered after 10 s: stderr %q", errw.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := lw.flush(); err != nil || out.String() != "" {
		t.Fatalf("flush: %v, stdout %q", err, out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestLogWriterReportsAFailedWrite(t *testing.T) {
	lw := newLogWriter(failingWriter{}, failingWriter{})
	_ = lw.write("stdout", []byte("one\n"))
	err := lw.flush()
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("flush: %v, want broken pipe", err)
	}
	if err := lw.write("stderr", []byte("two\n")); err == nil {
		t.Fatal("a write after a failed one succeeded")
	}
}
