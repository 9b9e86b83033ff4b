// berth-logger is containerd's "binary" logging driver for berth: it writes
// a container's stdout and stderr to berth's json-file log and serves the
// container's attach socket. containerd's runc shim starts it with the
// container's stdout on fd 3, its stderr on fd 4 and fd 5 to close once
// ready; the arguments are the log URI's query as key value pairs, e.g.
//
//	berth-logger path /var/lib/berth/containers/ID/ID-json.log max-size 10485760 max-file 3 attach /run/berth/io/ID.sock
//
// It exits when both streams are at EOF, after flushing. berth's own shim
// does the same work in-process (pkg/containerio).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/berthproject/berth/pkg/containerio"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "berth-logger: %s: %v\n", os.Getenv("CONTAINER_ID"), err)
		os.Exit(1)
	}
}

// termGrace is how long berth-logger keeps draining its pipes after
// SIGTERM. containerd's shim closes its ends of the pipes and sends SIGTERM
// at the same time, so what is still in the pipes must be read first; it
// kills the logger 12 s later.
const termGrace = 8 * time.Second

func run(args []string) error {
	// Non-blocking fds are pollable: Close then interrupts a pending Read.
	for fd := 3; fd <= 4; fd++ {
		if err := syscall.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("fd %d: %w (berth-logger is started by containerd with the container's stdout on fd 3, stderr on fd 4, a ready pipe on fd 5)", fd, err)
		}
	}
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	o, err := containerio.ParseLoggerArgs(args)
	if err != nil {
		return err
	}
	// containerd's binary protocol has no stdin: nobody could read it.
	o.Stdin = false
	sink, err := containerio.NewSink(o)
	if err != nil {
		return err
	}
	// SIGTERM: keep draining until EOF, but give up after termGrace (a
	// process that inherited the container's stdout keeps the pipe open).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// Ready: a byte then close (binary-v2 requires the byte; binary takes
	// the close).
	if ready != nil {
		_, _ = ready.Write([]byte{0})
		_ = ready.Close()
	}
	go func() {
		<-sigs
		time.Sleep(termGrace)
		_ = stdout.Close()
		_ = stderr.Close()
	}()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = sink.CopyStdout(stdout) })
	wg.Go(func() { errs[1] = sink.CopyStderr(stderr) })
	wg.Wait()
	err = sink.Close()
	for _, e := range errs {
		if !errors.Is(e, os.ErrClosed) {
			err = errors.Join(err, e)
		}
	}
	return err
}
