package main

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/containerio"
	"github.com/berthproject/berth/pkg/logfile"
)

var loggerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-logger-test")
	if err != nil {
		panic(err)
	}
	loggerBin = filepath.Join(dir, containerio.LoggerName)
	code := 1
	if out, err := exec.Command("go", "build", "-o", loggerBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildLogger returns berth-logger built into a temp dir.
func buildLogger(t *testing.T) string { return loggerBin }

// logger is a berth-logger process started the way containerd's runc shim
// starts a binary logger (NewBinaryIO/NewBinaryCmd): arguments from the URI
// query, CONTAINER_ID and CONTAINER_NAMESPACE only in its environment,
// stdout pipe on fd 3, stderr pipe on fd 4, a ready pipe on fd 5.
type logger struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File // the container's ends
	opts           containerio.Options
}

func startLogger(t *testing.T, bin string, o containerio.Options) *logger {
	t.Helper()
	u, err := url.Parse(containerio.LoggerURI(bin, o))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 {
			args = append(args, vs[0])
		}
	}
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	cmd := exec.Command(u.Path, args...)
	cmd.Env = []string{"CONTAINER_ID=c1", "CONTAINER_NAMESPACE=berth"}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("berth-logger stderr: %s", stderr.String())
		}
	})
	outR.Close()
	errR.Close()
	readyW.Close()
	// containerd waits for a byte (binary-v2) or EOF (binary).
	b := make([]byte, 1)
	n, err := readyR.Read(b)
	readyR.Close()
	if n != 1 && err != io.EOF {
		t.Fatalf("ready pipe: %v", err)
	}
	if n != 1 {
		t.Fatalf("berth-logger exited before ready: %s", stderr.String())
	}
	return &logger{cmd: cmd, stdout: outW, stderr: errW, opts: o}
}

func (l *logger) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("berth-logger: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("berth-logger did not exit after EOF")
	}
}

func tempOpts(t *testing.T) containerio.Options {
	dir, err := os.MkdirTemp("/tmp", "btl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return containerio.Options{
		LogPath:      filepath.Join(dir, "c1", "c1-json.log"),
		MaxSize:      containerio.DefaultMaxSize,
		MaxFiles:     containerio.DefaultMaxFiles,
		AttachSocket: filepath.Join(dir, "c1.sock"),
	}
}

func entries(t *testing.T, path string) (out, errs string) {
	t.Helper()
	if err := logfile.Read(context.Background(), path, logfile.ReadOptions{Tail: -1}, func(e logfile.Entry) error {
		switch e.Stream {
		case "stdout":
			out += string(e.Line)
		case "stderr":
			errs += string(e.Line)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, errs
}

func TestLoggerEndToEnd(t *testing.T) {
	bin := buildLogger(t)
	o := tempOpts(t)
	l := startLogger(t, bin, o)

	// Ready means the attach socket is up.
	c, err := attach.Dial(context.Background(), o.AttachSocket)
	if err != nil {
		t.Fatalf("attach after ready: %v", err)
	}
	defer c.Close()
	fi, err := os.Stat(o.AttachSocket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("attach socket: %v %v", fi, err)
	}

	l.stdout.WriteString("hello\nwor")
	l.stderr.WriteString("warning: x\n")
	l.stdout.WriteString("ld\nlast without newline")
	l.stdout.Close()
	l.stderr.Close()
	l.wait(t)

	out, errs := entries(t, o.LogPath)
	if out != "hello\nworld\nlast without newline" || errs != "warning: x\n" {
		t.Fatalf("log stdout %q stderr %q", out, errs)
	}
	if !logfile.IsClosed(o.LogPath) {
		t.Fatal("log not marked closed after the logger exited")
	}
	var attOut, attErr string
	for {
		st, p, err := c.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
		if st == attach.Stdout {
			attOut += string(p)
		} else {
			attErr += string(p)
		}
	}
	if attOut != "hello\nworld\nlast without newline" || attErr != "warning: x\n" {
		t.Fatalf("attach stdout %q stderr %q", attOut, attErr)
	}
	if _, err := os.Stat(o.AttachSocket); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("attach socket left behind")
	}
}

// containerd's shim closes its pipe ends and sends SIGTERM at once: what is
// still in the pipes must reach the log.
func TestLoggerDrainsAfterSIGTERM(t *testing.T) {
	bin := buildLogger(t)
	o := tempOpts(t)
	o.AttachSocket = ""
	l := startLogger(t, bin, o)
	var want strings.Builder
	for i := range 500 {
		want.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	if _, err := l.stdout.WriteString(want.String()); err != nil {
		t.Fatal(err)
	}
	l.stdout.Close()
	l.stderr.Close()
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	l.wait(t)
	if out, _ := entries(t, o.LogPath); out != want.String() {
		t.Fatalf("log has %d bytes of stdout, want %d", len(out), want.Len())
	}
}

// A restarted container gets a new logger appending to the same log: a
// follower sees both, and ends when the second one exits.
func TestLoggerRestartFollow(t *testing.T) {
	bin := buildLogger(t)
	o := tempOpts(t)
	l := startLogger(t, bin, o)
	l.stdout.WriteString("first\n")

	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- logfile.Read(context.Background(), o.LogPath, logfile.ReadOptions{Tail: -1, Follow: true}, func(e logfile.Entry) error {
			got <- string(e.Line)
			return nil
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case line := <-got:
			if line != want {
				t.Fatalf("follower saw %q, want %q", line, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("follower did not see %q", want)
		}
	}
	expect("first\n")
	// The first logger is killed (as if it crashed): the follower waits.
	l.cmd.Process.Kill()
	l.cmd.Wait()
	l2 := startLogger(t, bin, o)
	l2.stdout.WriteString("second\n")
	expect("second\n")
	l2.stdout.Close()
	l2.stderr.Close()
	l2.wait(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follower did not end after the logger closed the log")
	}
}

func TestLoggerBadArgs(t *testing.T) {
	bin := buildLogger(t)
	out, err := exec.Command(bin, "path").CombinedOutput()
	if err == nil {
		t.Fatalf("berth-logger with bad arguments succeeded: %s", out)
	}
}
