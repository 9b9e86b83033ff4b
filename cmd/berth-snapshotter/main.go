// Command berth-snapshotter serves berth's overlayfs snapshotter to
// containerd: containerd's Snapshots service over ttrpc on a unix socket,
// which berth's containerd reaches through its snapshot plugin "berth"
// (cmd/containerd/snapshotter.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthproject/berth/snapshotter"
	"github.com/containerd/log"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "berth-snapshotter:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("berth-snapshotter", flag.ContinueOnError)
	root := fs.String("root", "/var/lib/berth/snapshotter", "directory for snapshots and metadata")
	address := fs.String("address", "/run/berth/snapshotter.sock", "unix socket to serve the Snapshots service (ttrpc) on")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *debug {
		if err := log.SetLevel("debug"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	sn, err := snapshotter.New(ctx, *root)
	if err != nil {
		return err
	}
	defer sn.Close()
	l, err := snapshotter.Listen(*address)
	if err != nil {
		return err
	}
	log.G(ctx).WithField("root", *root).WithField("address", *address).Info("serving berth snapshotter")
	return snapshotter.Serve(ctx, sn, l)
}
