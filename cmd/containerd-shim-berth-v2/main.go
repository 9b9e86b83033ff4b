// Command containerd-shim-berth-v2 is berth's containerd runtime shim
// (runtime io.containerd.berth.v2). See package shim.
package main

import (
	"os"

	"github.com/berthproject/berth/shim"
)

func main() {
	os.Exit(shim.Main(os.Args))
}
