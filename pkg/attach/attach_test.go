package attach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sockPath(t *testing.T) string {
	dir, err := os.MkdirTemp("/tmp", "bta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "a.sock")
}

func dial(t *testing.T, path string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type frameRec struct {
	stream byte
	data   string
}

// readAll reads frames until EOF.
func readAll(c *Conn) ([]frameRec, error) {
	var got []frameRec
	for {
		s, p, err := c.ReadFrame()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, frameRec{s, string(p)})
	}
}

func TestTwoClientsSeeSameOutputThenEOF(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	a, b := dial(t, path), dial(t, path)
	want := []frameRec{{Stdout, "hello\n"}, {Stderr, "oops\n"}, {Stdout, "partial line"}, {Stdout, string(bytes.Repeat([]byte("z"), 100000))}}
	for _, f := range want {
		s.Broadcast(f.stream, []byte(f.data))
	}
	s.Broadcast(Stdout, nil) // nothing to send
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Conn{"a": a, "b": b} {
		got, err := readAll(c)
		if err != nil {
			t.Fatalf("client %s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("client %s got %d frames, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("client %s frame %d = %d %.20q, want %d %.20q", name, i, got[i].stream, got[i].data, want[i].stream, want[i].data)
			}
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket not removed after Close: %v", err)
	}
	if _, err := Dial(context.Background(), path); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
}

// A client that stops reading is disconnected (ErrDropped after a faithful
// prefix of the output); output and the other clients go on.
func TestStalledClientDoesNotBlockOutput(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stalled := dial(t, path) // does not read until the end
	reader := dial(t, path)

	const chunk, count = 64 << 10, 256 // 16 MiB: more than MaxQueued plus socket buffers
	progress := make(chan int, count)
	result := make(chan error, 1)
	go func() {
		n := 0
		for {
			_, p, err := reader.ReadFrame()
			if err != nil {
				if err == io.EOF {
					err = nil
					if n != chunk*count {
						err = fmt.Errorf("got %d bytes, want %d", n, chunk*count)
					}
				}
				result <- err
				return
			}
			n += len(p)
			progress <- n
		}
	}()
	// The producer goes at the pace of the reading client (it stays less
	// than 1 MiB ahead of it): that client is never too slow, the stalled
	// one is.
	payload := bytes.Repeat([]byte("x"), chunk)
	read := 0
	deadline := time.After(60 * time.Second)
	for i := range count {
		for (i-16)*chunk > read {
			select {
			case read = <-progress:
			case err := <-result:
				t.Fatalf("reading client ended early: %v", err)
			case <-deadline:
				t.Fatal("output blocked")
			}
		}
		s.Broadcast(Stdout, payload)
	}
	if n := s.Clients(); n != 1 {
		t.Fatalf("%d clients attached after the stalled one overflowed, want 1", n)
	}
	s.Close()
	if err := <-result; err != nil {
		t.Fatalf("reading client: %v", err)
	}
	n := 0
	for {
		_, p, err := stalled.ReadFrame()
		if err != nil {
			// ErrDropped if the server could still tell it, else
			// the connection just ended; never a clean EOF.
			if !errors.Is(err, ErrDropped) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("stalled client ended with %v, want ErrDropped or ErrUnexpectedEOF", err)
			}
			break
		}
		if !bytes.Equal(p, payload[:len(p)]) {
			t.Fatal("stalled client got corrupted data")
		}
		n += len(p)
	}
	if n >= chunk*count || n%chunk != 0 {
		t.Fatalf("stalled client got %d bytes before being dropped", n)
	}
}

func TestStdinFromClients(t *testing.T) {
	path := sockPath(t)
	pr, pw := io.Pipe()
	s, err := Listen(path, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := dial(t, path), dial(t, path)
	chunks := make(chan string, 16)
	go func() {
		buf := make([]byte, 100)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				chunks <- string(buf[:n])
			}
			if err != nil {
				close(chunks) // EOF: stdin closed
				return
			}
		}
	}()
	next := func() (string, bool) {
		select {
		case c, ok := <-chunks:
			return c, ok
		case <-time.After(30 * time.Second):
			t.Fatal("stdin reader stuck")
			return "", false
		}
	}
	// Input from each client arrives in order; between clients the order
	// is the order in which the server receives it.
	if err := a.WriteStdin([]byte("from a\n")); err != nil {
		t.Fatal(err)
	}
	if c, _ := next(); c != "from a\n" {
		t.Fatalf("stdin got %q", c)
	}
	if err := b.WriteStdin([]byte("from b\n")); err != nil {
		t.Fatal(err)
	}
	if err := b.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if c, _ := next(); c != "from b\n" {
		t.Fatalf("stdin got %q", c)
	}
	if c, ok := next(); ok {
		t.Fatalf("stdin got %q after CloseStdin, want EOF", c)
	}
	// More stdin after the close is ignored, and the clients stay attached.
	if err := a.WriteStdin([]byte("late")); err != nil {
		t.Fatal(err)
	}
	s.Broadcast(Stdout, []byte("still here"))
	st, p, err := a.ReadFrame()
	if err != nil || st != Stdout || string(p) != "still here" {
		t.Fatalf("after close-stdin: %d %q %v", st, p, err)
	}
}

// A socket left behind by a server that died is replaced; stdin frames to a
// server without stdin are ignored.
func TestStaleSocketAndNoStdin(t *testing.T) {
	path := sockPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	c := dial(t, path)
	if err := c.WriteStdin([]byte("ignored")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	s.Broadcast(Stderr, []byte("out"))
	s.Close()
	got, err := readAll(c)
	if err != nil || len(got) != 1 || got[0] != (frameRec{Stderr, "out"}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestDialNoServer(t *testing.T) {
	if _, err := Dial(context.Background(), sockPath(t)); err == nil {
		t.Fatal("Dial without a server succeeded")
	}
}

// Close does not wait forever for a client that stopped reading before it
// overflowed its queue; that client then sees the output cut short, not a
// clean EOF.
func TestCloseWithStalledClient(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.flushTimeout = 100 * time.Millisecond
	stalled := dial(t, path)
	payload := bytes.Repeat([]byte("y"), 64<<10)
	for range 32 { // 2 MiB: fills the client's socket, not its queue
		s.Broadcast(Stdout, payload)
	}
	if s.Clients() != 1 {
		t.Fatal("the stalled client was dropped before its queue was full")
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close blocked on a stalled client")
	}
	got, err := readAll(stalled)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stalled client: %d frames then %v, want ErrUnexpectedEOF", len(got), err)
	}
}
