// Command berth-etcd is etcd v3.7.3 (go.etcd.io/etcd/server/v3's etcdmain,
// unchanged), built from the Go module proxy with berth. berthd runs it as
// a supervised child on the cluster's first nodes (at most three), so that
// a berthd in no cluster links no etcd server and runs none
// (docs/cluster.md, "Store").
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
