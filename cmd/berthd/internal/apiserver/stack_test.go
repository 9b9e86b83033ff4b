package apiserver_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/client"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/test/harness"
)

// TestRealStack drives the API against a real berthd (private stack:
// containerd, runc, the shim) through pkg/client: the run flow (wait and
// attach registered before start), typed errors from the engine, exec with
// stdin, and image load/save/inspect. Containers use network mode none:
// networking is tested with the network manager, not here.
func TestRealStack(t *testing.T) {
	s := harness.Start(t)
	ctx := testCtx(t)
	c, err := client.New(ctx, s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	archive, err := os.Open(harness.BusyboxArchive(t))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	var progress []string
	loaded, err := c.Images().Load(ctx, archive, func(l string) { progress = append(progress, l) })
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || !strings.Contains(strings.Join(progress, "\n"), "Loaded image") {
		t.Fatalf("load: %d images, progress %q", len(loaded), progress)
	}
	img, err := c.Images().Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != loaded[0].ID || len(img.RootFS.Layers) == 0 {
		t.Errorf("inspect: %+v, loaded %s", img, loaded[0].ID)
	}
	var saved bytes.Buffer
	if err := c.Images().Save(ctx, &saved, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	if saved.Len() < 1<<20 { // the static busybox alone is larger
		t.Errorf("save: archive of %d bytes", saved.Len())
	}

	// run: create, wait and attach registered, start, output and exit code.
	id, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", NetworkMode: "none", Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	exit, err := c.Wait(ctx, id, containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	ready := make(chan struct{})
	attached := make(chan error, 1)
	go func() {
		attached <- c.Attach(ctx, id, containertypes.AttachOptions{Streams: containertypes.Streams{Stdout: &stdout, Stderr: &stderr}, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-attached:
		t.Fatalf("attach: %v", err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := <-exit; st.ExitCode != 3 {
		t.Errorf("exit status %+v, want code 3", st)
	}
	if err := <-attached; err != nil {
		t.Errorf("attach: %v", err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	ctr, err := c.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ctr.State.Status != containertypes.StatusExited || ctr.State.ExitCode != 3 || ctr.Config.Image != "busybox" {
		t.Errorf("inspect: state %+v, config image %q", ctr.State, ctr.Config.Image)
	}

	// Typed errors raised in the engine.
	if _, err := c.Inspect(ctx, "ghost"); !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "No such container: ghost") {
		t.Errorf("inspect ghost: %v", err)
	}
	bad, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", NetworkMode: "none", Cmd: []string{"/no/such/cmd"}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(ctx, bad)
	var se *containertypes.StartError
	if !errors.As(err, &se) || se.ExitCode != 127 {
		t.Errorf("start of a missing command: %v (%T), want StartError 127", err, err)
	}

	// exec with stdin into a running container.
	long, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", NetworkMode: "none", Cmd: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, long); err != nil {
		t.Fatal(err)
	}
	execID, err := c.ExecCreate(ctx, long, containertypes.ExecConfig{Cmd: []string{"sh", "-c", "tr a-z A-Z; exit 5"}, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var execOut lockedBuffer
	code, err := c.ExecStart(ctx, execID, containertypes.Streams{Stdin: strings.NewReader("hello\n"), Stdout: &execOut, Stderr: &execOut})
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || execOut.String() != "HELLO\n" {
		t.Errorf("exec: code %d, output %q", code, execOut.String())
	}
	if err := c.Remove(ctx, long, containertypes.RemoveOptions{}); !errdefs.IsConflict(err) {
		t.Errorf("remove of a running container: %v, want ErrConflict", err)
	}
	if err := c.Remove(ctx, long, containertypes.RemoveOptions{Force: true}); err != nil {
		t.Errorf("remove -f: %v", err)
	}
	if _, err := c.Images().Remove(ctx, []string{"busybox"}, imagetypes.RemoveOptions{}); !errdefs.IsFailedPrecondition(err) && !errdefs.IsConflict(err) {
		t.Errorf("rmi of an image in use: %v, want FailedPrecondition or Conflict", err)
	}
}
