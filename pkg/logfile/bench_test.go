package logfile

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var benchLine = []byte(strings.Repeat("x", 60) + " \"quoted\" \ttab ünïcode\n")

// BenchmarkEncode is the per-line cost of berth's encoder.
func BenchmarkEncode(b *testing.B) {
	var buf []byte
	now := time.Now()
	for b.Loop() {
		buf = appendEntry(buf[:0], "stdout", benchLine, now)
	}
}

// BenchmarkEncodeStdlib is the same entry through encoding/json, for
// comparison.
func BenchmarkEncodeStdlib(b *testing.B) {
	type entry struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	now := time.Now()
	for b.Loop() {
		buf, _ := json.Marshal(entry{string(benchLine), "stdout", now})
		_ = append(buf, '\n')
	}
}

// BenchmarkTail reads the last 10 lines of a full 10 MiB log.
func BenchmarkTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	chunk := []byte(strings.Repeat(strings.Repeat("y", 99)+"\n", 1000))
	for written := 0; written < 10<<20; written += len(chunk) * 2 {
		w.WriteLines("stdout", chunk, time.Now())
	}
	w.Close()
	for b.Loop() {
		n := 0
		Read(context.Background(), path, ReadOptions{Tail: 10}, func(Entry) error { n++; return nil })
		if n != 10 {
			b.Fatalf("%d lines", n)
		}
	}
}

// BenchmarkReadAll reads a whole 10 MiB log of 100-byte lines (docker
// logs of a chatty container); MB/s is the log's payload.
func BenchmarkReadAll(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	chunk := []byte(strings.Repeat(strings.Repeat("y", 99)+"\n", 1000))
	written := 0
	for ; written < 10<<20; written += len(chunk) {
		w.WriteLines("stdout", chunk, time.Now())
	}
	w.Close()
	b.SetBytes(int64(written))
	for b.Loop() {
		n := 0
		if err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(e Entry) error { n += len(e.Line); return nil }); err != nil {
			b.Fatal(err)
		}
		if n != written {
			b.Fatalf("read %d bytes, want %d", n, written)
		}
	}
}
