package logfile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 5, 24, 43, 123456789, time.UTC)

func numbered(i int) []byte { return fmt.Appendf(nil, "line-%06d\n", i) }

// readAll returns the entries Read gives without following.
func readAll(t *testing.T, path string, opts ReadOptions) []Entry {
	t.Helper()
	var got []Entry
	if err := Read(context.Background(), path, opts, func(e Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

// lineNumbers parses the numbers of entries written with numbered.
func lineNumbers(t *testing.T, es []Entry) []int {
	t.Helper()
	var ns []int
	for _, e := range es {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(e.Line), "line-"), "\n"))
		if err != nil {
			t.Fatalf("unexpected entry %q", e.Line)
		}
		ns = append(ns, n)
	}
	return ns
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEntryFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("stdout", []byte("hello\n"), t0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"log":"hello\n","stream":"stdout","time":"2026-11-22T05:24:43.123456789Z"}` + "\n"
	if string(b) != want {
		t.Fatalf("file = %q, want %q", b, want)
	}
}

// The hand-rolled encoder must give the same decoded value as encoding/json
// for any bytes.
func checkEncoding(t *testing.T, line []byte) {
	t.Helper()
	enc := appendEntry(nil, "stderr", line, t0)
	if enc[len(enc)-1] != '\n' {
		t.Fatalf("entry does not end in a newline: %q", enc)
	}
	var got, want jsonEntry
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatalf("entry for %q is not valid JSON: %v: %s", line, err, enc)
	}
	ref, _ := json.Marshal(string(line))
	var wantLog string
	if err := json.Unmarshal(ref, &wantLog); err != nil {
		t.Fatal(err)
	}
	want = jsonEntry{Log: wantLog, Stream: "stderr", Time: t0}
	if got.Log != want.Log || got.Stream != want.Stream || !got.Time.Equal(want.Time) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if strings.Count(string(enc), "\n") != 1 {
		t.Fatalf("entry spans several lines: %q", enc)
	}
}

func TestEncodingAnyBytes(t *testing.T) {
	cases := []string{
		"", "plain\n", "quote\" backslash\\ slash/", "tab\tcr\r\x00\x01\x1f\x7f",
		"<html>&amp;</html>", "héllo wörld ✓ 😀", "\xff\xfe bad \xc3(", "\xe2\x80\xa8 \xe2\x80\xa9",
		"truncated rune \xe2\x82", "\u2028",
	}
	for _, c := range cases {
		checkEncoding(t, []byte(c))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		checkEncoding(t, b)
	}
}

func FuzzEncoding(f *testing.F) {
	f.Add([]byte("hello\n"))
	f.Add([]byte("\xff\x00\"\\"))
	f.Fuzz(func(t *testing.T, b []byte) { checkEncoding(t, b) })
}

func TestRotationBySizeAndCount(t *testing.T) {
	entryLen := int64(len(appendEntry(nil, "stdout", numbered(0), t0)))
	for _, tc := range []struct {
		name      string
		maxFiles  int
		maxSize   int64
		write     int
		wantFiles map[string][]int // file → the line numbers it holds
	}{
		{"count 3", 3, 10 * entryLen, 45, map[string][]int{
			"": seq(41, 45), ".1": seq(31, 40), ".2": seq(21, 30)}},
		{"count 1", 1, 10 * entryLen, 25, map[string][]int{"": seq(21, 25)}},
		{"size not a multiple", 2, 10*entryLen + entryLen/2, 25, map[string][]int{
			"": seq(21, 25), ".1": seq(11, 20)}},
		{"no rotation", 3, 0, 100, map[string][]int{"": seq(1, 100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c-json.log")
			w, err := NewWriter(path, tc.maxSize, tc.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= tc.write; i++ {
				if err := w.Write("stdout", numbered(i), t0); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			names, _ := filepath.Glob(path + ".[0-9]*")
			if len(names)+1 != len(tc.wantFiles) {
				t.Errorf("files %v + %s, want %d files", names, path, len(tc.wantFiles))
			}
			var all []int
			for n := len(tc.wantFiles) - 1; n >= 0; n-- {
				suffix := ""
				if n > 0 {
					suffix = "." + strconv.Itoa(n)
				}
				file := path + suffix
				fi, err := os.Stat(file)
				if err != nil {
					t.Fatal(err)
				}
				if tc.maxSize > 0 && fi.Size() > tc.maxSize {
					t.Errorf("%s is %d bytes, max-size %d", file, fi.Size(), tc.maxSize)
				}
				got := lineNumbers(t, readFile(t, file))
				if !equalInts(got, tc.wantFiles[suffix]) {
					t.Errorf("%s holds %v, want %v", file, got, tc.wantFiles[suffix])
				}
				all = append(all, tc.wantFiles[suffix]...)
			}
			// Read goes through all the files in order.
			if got := lineNumbers(t, readAll(t, path, ReadOptions{Tail: -1})); !equalInts(got, all) {
				t.Errorf("Read = %v, want %v", got, all)
			}
		})
	}
}

// readFile decodes one file with no rotation logic.
func readFile(t *testing.T, file string) []Entry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var je jsonEntry
		if err := json.Unmarshal(sc.Bytes(), &je); err != nil {
			t.Fatalf("%s: %v: %q", file, err, sc.Bytes())
		}
		es = append(es, Entry{Line: []byte(je.Log), Stream: je.Stream, Time: je.Time})
	}
	return es
}

func TestLongLinesSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	long := []byte(strings.Repeat("x", 2*MaxLineSize+10) + "\n")
	if err := w.Write("stdout", long, t0); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteLines("stderr", append([]byte("a\nb\n"), long...), t0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	es := readAll(t, path, ReadOptions{Tail: -1})
	var sizes []int
	var joined []byte
	for _, e := range es {
		sizes = append(sizes, len(e.Line))
		joined = append(joined, e.Line...)
	}
	want := []int{MaxLineSize, MaxLineSize, 11, 2, 2, MaxLineSize, MaxLineSize, 11}
	if !equalInts(sizes, want) {
		t.Fatalf("entry sizes %v, want %v", sizes, want)
	}
	if string(joined) != string(long)+"a\nb\n"+string(long) {
		t.Fatal("split entries do not join back to the lines written")
	}
}

func TestReadTailSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	entryLen := int64(len(appendEntry(nil, "stdout", numbered(0), t0)))
	w, err := NewWriter(path, 7*entryLen, 10) // 50 lines over 8 files
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for i := 1; i <= 50; i++ {
		stream := "stdout"
		if i%2 == 0 {
			stream = "stderr"
		}
		if err := w.Write(stream, numbered(i), at(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts ReadOptions
		want []int
	}{
		{"all", ReadOptions{Tail: -1}, seq(1, 50)},
		{"tail 0", ReadOptions{Tail: 0}, nil},
		{"tail 1", ReadOptions{Tail: 1}, seq(50, 50)},
		{"tail 3 in current file", ReadOptions{Tail: 3}, seq(48, 50)},
		{"tail 20 across files", ReadOptions{Tail: 20}, seq(31, 50)},
		{"tail at a file boundary", ReadOptions{Tail: 8}, seq(43, 50)},
		{"tail 50", ReadOptions{Tail: 50}, seq(1, 50)},
		{"tail more than there is", ReadOptions{Tail: 500}, seq(1, 50)},
		{"since", ReadOptions{Tail: -1, Since: at(45)}, seq(45, 50)},
		{"until", ReadOptions{Tail: -1, Until: at(5)}, seq(1, 5)},
		{"since until", ReadOptions{Tail: -1, Since: at(10), Until: at(12)}, seq(10, 12)},
		{"tail then since", ReadOptions{Tail: 10, Since: at(45)}, seq(45, 50)},
		{"until before tail", ReadOptions{Tail: 5, Until: at(40)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := readAll(t, path, tc.opts)
			if got := lineNumbers(t, es); !equalInts(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for _, e := range es {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(e.Line), "line-")))
				wantStream := map[bool]string{true: "stderr", false: "stdout"}[n%2 == 0]
				if e.Stream != wantStream || !e.Time.Equal(at(n)) {
					t.Fatalf("entry %d: stream %s time %s", n, e.Stream, e.Time)
				}
			}
		})
	}
	// A log that does not exist reads as empty.
	if es := readAll(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}); len(es) != 0 {
		t.Fatalf("missing log gave %d entries", len(es))
	}
}

// A partial line at the end (a writer in the middle of a write, or one that
// crashed) is not an entry; a new writer terminates it and it is skipped.
func TestPartialLineAndWriterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(path, 0, 1)
	w.Write("stdout", numbered(1), t0)
	w.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"log":"line-000002\n","str`)
	f.Close()
	if got := lineNumbers(t, readAll(t, path, ReadOptions{Tail: -1})); !equalInts(got, []int{1}) {
		t.Fatalf("with a partial line: %v", got)
	}
	if got := lineNumbers(t, readAll(t, path, ReadOptions{Tail: 1})); !equalInts(got, []int{1}) {
		t.Fatalf("tail 1 with a partial line: %v", got)
	}
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", numbered(3), t0)
	w.Close()
	if got := lineNumbers(t, readAll(t, path, ReadOptions{Tail: -1})); !equalInts(got, []int{1, 3}) {
		t.Fatalf("after a new writer: %v", got)
	}
}

// follower runs Read with Follow in the background and collects line
// numbers on seen, which is closed when Read returns (its error is then on
// done).
type follower struct {
	seen chan int
	done chan error
}

func startFollower(ctx context.Context, t *testing.T, path string, opts ReadOptions) *follower {
	opts.Follow = true
	fl := &follower{seen: make(chan int, 1<<16), done: make(chan error, 1)}
	go func() {
		err := Read(ctx, path, opts, func(e Entry) error {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(e.Line), "line-"), "\n"))
			if err != nil {
				return fmt.Errorf("unexpected entry %q", e.Line)
			}
			fl.seen <- n
			return nil
		})
		fl.done <- err
		close(fl.seen)
	}()
	return fl
}

// next returns the next line the follower sees; ok is false if it ended.
func (fl *follower) next(t *testing.T) (n int, ok bool) {
	t.Helper()
	select {
	case n, ok := <-fl.seen:
		return n, ok
	case <-time.After(30 * time.Second):
		t.Fatal("follower stuck")
		return 0, false
	}
}

// expect checks that the next lines the follower sees are exactly want.
func (fl *follower) expect(t *testing.T, want []int) {
	t.Helper()
	for _, w := range want {
		n, ok := fl.next(t)
		if !ok {
			t.Fatalf("follower ended (%v) before line %d", <-fl.done, w)
		}
		if n != w {
			t.Fatalf("follower saw line %d, want %d", n, w)
		}
	}
}

// waitEnd checks that the follower ends without seeing more lines and
// returns Read's error.
func (fl *follower) waitEnd(t *testing.T) error {
	t.Helper()
	if n, ok := fl.next(t); ok {
		t.Fatalf("follower saw an extra line %d", n)
	}
	return <-fl.done
}

// A reader follows a concurrent writer across rotations and sees every line
// exactly once, in order; Close ends it.
func TestFollowAcrossRotations(t *testing.T) {
	entryLen := int64(len(appendEntry(nil, "stdout", numbered(0), t0)))
	for _, tc := range []struct {
		name     string
		maxFiles int
		lines    int
		window   int // the writer stays at most this many lines ahead; 0: free running
		perFile  int // lines per file
	}{
		// max-file 3: pace the writer so that it never drops a file
		// the reader has not reached (a reader that slow loses lines
		// by design), yet rotates while the reader is on the old file.
		{"max-file 3 paced", 3, 400, 15, 10},
		{"max-file 1 paced", 1, 200, 5, 10},
		{"free running", 1000, 5000, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			w, err := NewWriter(path, int64(tc.perFile)*entryLen, tc.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			w.Write("stdout", numbered(1), t0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fl := startFollower(ctx, t, path, ReadOptions{Tail: -1})
			read := make(chan int, 1<<16)
			werr := make(chan error, 1)
			go func() {
				acked := 1
				for i := 2; i <= tc.lines; i++ {
					for tc.window > 0 && i-acked > tc.window {
						select {
						case acked = <-read:
						case <-ctx.Done():
							werr <- ctx.Err()
							return
						}
					}
					if err := w.Write("stdout", numbered(i), t0); err != nil {
						werr <- err
						return
					}
				}
				werr <- w.Close()
			}()
			for want := 1; want <= tc.lines; want++ {
				fl.expect(t, []int{want})
				read <- want
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if err := fl.waitEnd(t); err != nil {
				t.Fatalf("follower ended with %v, want nil after Close", err)
			}
			rotated, _ := filepath.Glob(path + ".[0-9]*")
			if want := min(tc.maxFiles-1, (tc.lines+tc.perFile-1)/tc.perFile-1); len(rotated) != want {
				t.Fatalf("%d rotated files, want %d", len(rotated), want)
			}
		})
	}
}

func TestFollowTailZeroAndCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(path, 0, 1)
	defer w.Close()
	for i := 1; i <= 5; i++ {
		w.Write("stdout", numbered(i), time.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl := startFollower(ctx, t, path, ReadOptions{Tail: 2})
	fl.expect(t, []int{4, 5})
	w.Write("stdout", numbered(6), time.Now())
	fl.expect(t, []int{6})
	cancel()
	if err := fl.waitEnd(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled follower returned %v", err)
	}

	fl = startFollower(context.Background(), t, path, ReadOptions{Tail: 0})
	// Tail 0 starts at the end: only new lines. Wait until the follower
	// is following (it sees a line written after it started) — written
	// repeatedly since it may start after any given write.
	w.Write("stdout", numbered(7), time.Now())
	w.Close()
	if n, ok := fl.next(t); ok {
		// It started before line 7 was written.
		if n != 7 {
			t.Fatalf("tail 0 follower saw %d", n)
		}
		if err := fl.waitEnd(t); err != nil {
			t.Fatal(err)
		}
	} else if err := <-fl.done; err != nil {
		t.Fatal(err)
	}
}

// The closed marker: a follower of a closed log ends at once; a new writer
// removes it.
func TestFollowClosedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(path, 0, 1)
	w.Write("stdout", numbered(1), time.Now())
	w.Close()
	if !IsClosed(path) {
		t.Fatal("Close did not mark the log closed")
	}
	fl := startFollower(context.Background(), t, path, ReadOptions{Tail: -1})
	fl.expect(t, []int{1})
	if err := fl.waitEnd(t); err != nil {
		t.Fatal(err)
	}
	w, _ = NewWriter(path, 0, 1)
	if IsClosed(path) {
		t.Fatal("a new writer left the closed marker")
	}
	w.Close()
}

// TestHelperWriter is not a test: it is the writer process of
// TestFollowAcrossWriterRestart.
func TestHelperWriter(t *testing.T) {
	spec := os.Getenv("BERTH_LOGFILE_HELPER")
	if spec == "" {
		t.Skip("helper process only")
	}
	var path, mode string
	var from, to int
	if _, err := fmt.Sscanf(spec, "%s %d %d %s", &path, &from, &to, &mode); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(path, 2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		if err := w.Write("stdout", numbered(i), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if mode == "close" {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		os.Exit(0)
	}
	fmt.Println("written")
	time.Sleep(time.Hour) // wait to be killed, as a crashing logger
}

// A follower started before any writer keeps following across a writer
// process that is killed and a new one appending to the same log, and ends
// when the last one closes the log.
func TestFollowAcrossWriterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl := startFollower(ctx, t, path, ReadOptions{Tail: -1})

	helper := func(from, to int, mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("BERTH_LOGFILE_HELPER=%s %d %d %s", path, from, to, mode))
		return cmd
	}
	first := helper(1, 60, "crash")
	first.Stderr = os.Stderr
	out, _ := first.StdoutPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "written\n" {
		first.Process.Kill()
		first.Wait()
		t.Fatalf("helper said %q", line)
	}
	fl.expect(t, seq(1, 60))
	first.Process.Kill()
	first.Wait()
	if IsClosed(path) {
		t.Fatal("a killed writer marked the log closed")
	}

	second := helper(61, 100, "close")
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("second writer: %v: %s", err, out)
	}
	fl.expect(t, seq(61, 100))
	if err := fl.waitEnd(t); err != nil {
		t.Fatal(err)
	}
}

// A follower idle at the end of path when the writer fills it, rotates it to
// path.1 and then path.2 reads the rest of the old file before the new ones.
func TestFollowIdleAcrossRotations(t *testing.T) {
	entryLen := int64(len(appendEntry(nil, "stdout", numbered(0), t0)))
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 10*entryLen, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		w.Write("stdout", numbered(i), t0)
	}
	fl := startFollower(context.Background(), t, path, ReadOptions{Tail: -1})
	fl.expect(t, seq(1, 5))
	for i := 6; i <= 25; i++ {
		w.Write("stdout", numbered(i), t0)
	}
	fl.expect(t, seq(6, 25))
	if rotated, _ := filepath.Glob(path + ".[0-9]*"); len(rotated) != 2 {
		t.Fatalf("rotated files %v, want 2", rotated)
	}
	w.Close()
	if err := fl.waitEnd(t); err != nil {
		t.Fatal(err)
	}
}

// FuzzRead feeds the decoder a log whose middle is arbitrary bytes (what a
// writer that crashed mid-line, a full disk or a hand edit leaves): Read
// never panics, and the garbage, once a newline ends it, swallows neither
// the entry before it nor the one after it.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"log":"x\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"log":"partial`))
	f.Add([]byte("\x00\x00\x00"))
	f.Add([]byte(`{"log":1,"stream":{},"time":"yesterday"}`))
	f.Add([]byte(`{"log":"a\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}` + "\n" + `{"log":"`))
	f.Fuzz(func(t *testing.T, garbage []byte) {
		path := filepath.Join(t.TempDir(), "c-json.log")
		var b []byte
		b = appendEntry(b, "stdout", []byte("first\n"), t0)
		b = append(b, garbage...)
		b = append(b, '\n')
		b = appendEntry(b, "stderr", []byte("last\n"), t0.Add(time.Second))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var all []Entry
		err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(e Entry) error {
			all = append(all, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) < 2 || string(all[0].Line) != "first\n" || string(all[len(all)-1].Line) != "last\n" {
			t.Fatalf("entries around the garbage lost: %d entries %q", len(all), all)
		}
		var tail []Entry
		err = Read(context.Background(), path, ReadOptions{Tail: 1}, func(e Entry) error {
			tail = append(tail, e)
			return nil
		})
		if err != nil || len(tail) != 1 || string(tail[0].Line) != "last\n" || tail[0].Stream != "stderr" {
			t.Fatalf("tail 1: %q, %v", tail, err)
		}
	})
}
