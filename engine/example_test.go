package engine_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/berthproject/berth/engine"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Run a container through the engine, without berthd: create it, attach to
// its output, start it and wait for its exit.
func ExampleNew() {
	ctx := context.Background()
	e, err := engine.New(ctx, stackOptions()...) // e.g. engine.WithContainerdAddress("/run/containerd/containerd.sock")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	containers := e.Containers()

	id, _, err := containers.Create(ctx, containertypes.Config{
		Image: "busybox",
		Cmd:   []string{"echo", "hello from an embedded berth engine"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer containers.Remove(ctx, id, containertypes.RemoveOptions{Force: true})

	exited, _ := containers.Wait(ctx, id, containertypes.WaitNextExit)
	var out bytes.Buffer
	ready := make(chan struct{})
	attached := make(chan error, 1)
	go func() {
		attached <- containers.Attach(ctx, id, containertypes.AttachOptions{
			Streams: containertypes.Streams{Stdout: &out},
			Ready:   ready,
		})
	}()
	<-ready
	if err := containers.Start(ctx, id); err != nil {
		fmt.Println(err)
		return
	}
	<-attached
	status := <-exited
	fmt.Print(out.String())
	fmt.Println("exit code:", status.ExitCode)
	// Output:
	// hello from an embedded berth engine
	// exit code: 0
}
