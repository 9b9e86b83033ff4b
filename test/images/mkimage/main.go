// Command mkimage writes test images as OCI image archives, offline and
// reproducibly.
//
//	go run ./test/images/mkimage busybox -o busybox.tar
//	go run ./test/images/mkimage busybox -o big.tar --name localhost/big:latest --data-layers 4 --layer-size 64
//	go run ./test/images/mkimage busybox -o many.tar --name localhost/many:latest --small-layers 130
//
// The extra layers are stacked on top of the busybox layer, so every image
// still runs `sh`.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/berthproject/berth/test/images/imagegen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "busybox" {
		return fmt.Errorf("usage: mkimage busybox -o OUT.tar [--name REF] [--binary PATH] [--data-layers N --layer-size MiB --seed S] [--small-layers N]")
	}
	fs := flag.NewFlagSet("busybox", flag.ContinueOnError)
	out := fs.String("o", "", "output archive (required; - for stdout)")
	name := fs.String("name", "docker.io/library/busybox:latest", "image name (io.containerd.image.name)")
	binary := fs.String("binary", imagegen.DefaultBusybox, "static busybox binary")
	dataLayers := fs.Int("data-layers", 0, "number of random-data layers on top of busybox")
	layerSize := fs.Int64("layer-size", 1, "size of each random-data layer in MiB")
	seed := fs.Uint64("seed", 1, "seed of the random data")
	smallLayers := fs.Int("small-layers", 0, "number of small one-file layers on top of busybox")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("-o is required")
	}
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Binary: *binary, Name: *name})
	if err != nil {
		return err
	}
	spec.Layers = append(spec.Layers, imagegen.DataLayers(*dataLayers, *layerSize<<20, *seed)...)
	spec.Layers = append(spec.Layers, imagegen.SmallLayers(*smallLayers)...)

	f := os.Stdout
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	info, err := imagegen.WriteOCIArchive(bw, spec)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil && f != os.Stdout {
		err = cerr
	}
	if err != nil {
		if *out != "-" {
			os.Remove(*out)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %s id %s, %d layers\n", *out, *name, info.Config.Digest, len(info.Layers))
	return nil
}
