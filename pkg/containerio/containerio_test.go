package containerio

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/logfile"
)

func TestLoggerURIRoundTrip(t *testing.T) {
	o := Options{
		LogPath:      "/var/lib/berth/containers/abc/abc-json.log",
		MaxSize:      10 << 20,
		MaxFiles:     3,
		AttachSocket: "/run/berth/io/abc.sock",
		Stdin:        true,
	}
	s := LoggerURI("/usr/local/lib/berth/berth-logger", o)
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "binary" || u.Path != "/usr/local/lib/berth/berth-logger" || !IsBerthLogger(u) {
		t.Fatalf("URI %s", s)
	}
	got, err := ParseLoggerURI(u)
	if err != nil || got != o {
		t.Fatalf("ParseLoggerURI(%s) = %+v, %v; want %+v", s, got, err, o)
	}
	// berth-logger gets the query as key value pairs in map order.
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k, vs[0])
	}
	if got, err := ParseLoggerArgs(args); err != nil || got != o {
		t.Fatalf("ParseLoggerArgs(%q) = %+v, %v", args, got, err)
	}

	u.Scheme = "binary-v2"
	if got, err := ParseLoggerURI(u); err != nil || got != o {
		t.Fatalf("binary-v2: %+v, %v", got, err)
	}

	o = Options{LogPath: "/l/x.log", MaxSize: 0, MaxFiles: 1}
	u, _ = url.Parse(LoggerURI("/bin/berth-logger", o))
	if got, err := ParseLoggerURI(u); err != nil || got.MaxSize > 0 || got.AttachSocket != "" || got.Stdin {
		t.Fatalf("no rotation, no attach: %+v, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{
		"binary:///bin/other-logger?path=/x",
		"file:///bin/berth-logger?path=/x",
		"binary:///bin/berth-logger",
		"binary:///bin/berth-logger?path=/x&max-size=lots",
		"binary:///bin/berth-logger?path=/x&max-file=0",
		"binary:///bin/berth-logger?path=/x&stdin=maybe",
	} {
		u, _ := url.Parse(s)
		if _, err := ParseLoggerURI(u); err == nil {
			t.Errorf("ParseLoggerURI(%s) succeeded", s)
		}
	}
	if _, err := ParseLoggerArgs([]string{"path"}); err == nil {
		t.Error("odd argument count accepted")
	}
	u, _ := url.Parse("binary:///bin/berth-logger?path=/x")
	if o, err := ParseLoggerURI(u); err != nil || o.MaxSize != DefaultMaxSize || o.MaxFiles != DefaultMaxFiles {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"10m": 10 << 20, "10M": 10 << 20, "512k": 512 << 10, "1g": 1 << 30, "123": 123, "100kb": 100 << 10,
		"-1": -1, "0": -1,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "ten", "1.5m"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func tempPaths(t *testing.T) (logPath, sock string) {
	dir, err := os.MkdirTemp("/tmp", "btc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "c", "c-json.log"), filepath.Join(dir, "a.sock")
}

func readLog(t *testing.T, path string) []logfile.Entry {
	t.Helper()
	var es []logfile.Entry
	if err := logfile.Read(context.Background(), path, logfile.ReadOptions{Tail: -1}, func(e logfile.Entry) error {
		es = append(es, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

// The Sink splits output into lines for the log (partial lines joined
// across reads, a final partial line flushed at EOF, long lines split) and
// passes chunks as they come to attach clients, which see EOF at Close.
func TestSinkLinesAndAttach(t *testing.T) {
	logPath, sock := tempPaths(t)
	s, err := NewSink(Options{LogPath: logPath, MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles, AttachSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stdin() != nil {
		t.Fatal("Stdin() without Options.Stdin is not nil")
	}
	c, err := attach.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	long := strings.Repeat("L", logfile.MaxLineSize*2+100) + "\n"
	outWrites := []string{"hel", "lo\nwor", "ld\n", long[:5000], long[5000:], "a\nb\nc", "", "d\n", "no newline at EOF"}
	errWrites := []string{"err1\n", "err2"}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = s.CopyStdout(outR) })
	wg.Go(func() { errs[1] = s.CopyStderr(errR) })
	for _, w := range outWrites {
		outW.Write([]byte(w))
	}
	for _, w := range errWrites {
		errW.Write([]byte(w))
	}
	outW.Close()
	errW.Close()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var gotOut, gotErr []string
	for _, e := range readLog(t, logPath) {
		switch e.Stream {
		case "stdout":
			gotOut = append(gotOut, string(e.Line))
		case "stderr":
			gotErr = append(gotErr, string(e.Line))
		default:
			t.Fatalf("stream %q", e.Stream)
		}
	}
	wantOut := []string{"hello\n", "world\n", long[:logfile.MaxLineSize], long[logfile.MaxLineSize : 2*logfile.MaxLineSize], long[2*logfile.MaxLineSize:], "a\n", "b\n", "cd\n", "no newline at EOF"}
	if strings.Join(gotOut, "|") != strings.Join(wantOut, "|") {
		t.Errorf("stdout entries:\n%.200q\nwant\n%.200q", gotOut, wantOut)
	}
	if strings.Join(gotErr, "|") != "err1\n|err2" {
		t.Errorf("stderr entries %q", gotErr)
	}
	if !logfile.IsClosed(logPath) {
		t.Error("log not marked closed after Close")
	}

	var attOut, attErr bytes.Buffer
	for {
		st, p, err := c.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		map[byte]*bytes.Buffer{attach.Stdout: &attOut, attach.Stderr: &attErr}[st].Write(p)
	}
	if attOut.String() != strings.Join(outWrites, "") || attErr.String() != strings.Join(errWrites, "") {
		t.Errorf("attach got stdout %.100q stderr %q", attOut.String(), attErr.String())
	}
}

func TestSinkStdin(t *testing.T) {
	logPath, sock := tempPaths(t)
	s, err := NewSink(Options{LogPath: logPath, AttachSocket: sock, Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := attach.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(s.Stdin())
		got <- string(b)
	}()
	c.WriteStdin([]byte("echo hi\n"))
	c.WriteStdin([]byte("exit\n"))
	c.CloseStdin()
	select {
	case in := <-got:
		if in != "echo hi\nexit\n" {
			t.Fatalf("stdin %q", in)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stdin() did not reach EOF after CloseStdin")
	}
	if err := s.CopyStdout(strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrame(); err != io.EOF {
		t.Fatalf("after Close: %v", err)
	}
}

func TestNewSinkErrors(t *testing.T) {
	if _, err := NewSink(Options{}); err == nil {
		t.Fatal("NewSink without a log path succeeded")
	}
	logPath, _ := tempPaths(t)
	// An attach socket that cannot be created (its directory would be
	// under a regular file): no Sink, and the log is left closed.
	notDir := filepath.Join(filepath.Dir(logPath), "file")
	os.MkdirAll(filepath.Dir(notDir), 0o700)
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSink(Options{LogPath: logPath, AttachSocket: filepath.Join(notDir, "a.sock")}); err == nil {
		t.Fatal("NewSink with a bad socket path succeeded")
	}
	if !logfile.IsClosed(logPath) {
		t.Fatal("the log of a failed NewSink is not closed")
	}
}

// BenchmarkSink measures the Sink's throughput in log lines per second
// (100-byte lines through a pipe, an attach client reading).
func BenchmarkSink(b *testing.B) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "a.sock")
	s, err := NewSink(Options{LogPath: filepath.Join(dir, "c-json.log"), MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles, AttachSocket: sock})
	if err != nil {
		b.Fatal(err)
	}
	c, err := attach.Dial(context.Background(), sock)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := c.ReadFrame(); err != nil {
				return
			}
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.CopyStdout(r) }()
	line := []byte(strings.Repeat("x", 99) + "\n")
	batch := bytes.Repeat(line, 64)
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	n := 0
	for n+64 <= b.N {
		w.Write(batch)
		n += 64
	}
	for ; n < b.N; n++ {
		w.Write(line)
	}
	w.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	s.Close()
	c.Close()
}
