// Package prometheus stands in for Prometheus's client library in berth's
// containerd, which has no metrics server: containerd's
// plugins/server/metrics, the only part of containerd that serves the
// registry, is not built in (cmd/containerd/main.go), so no metric
// registered in the real library could ever be read. What containerd's
// built-in plugins register (the gRPC server's grpc-prometheus interceptors
// and the garbage collector's counters, through docker/go-metrics) is kept
// nowhere. There is no Gather or HTTP handler here: a plugin that would
// serve metrics does not build against this package. The real library's
// initialization (its default registry with Go and process collectors,
// procfs, the text exposition formats) cost 0.3 MB of binary
// (docs/performance.md "Idle daemons").
package prometheus

// Desc describes a metric.
type Desc struct{}

// Metric is one sample.
type Metric interface {
	Desc() *Desc
}

// Collector is what MustRegister takes.
type Collector interface {
	Describe(chan<- *Desc)
	Collect(chan<- Metric)
}

// MustRegister keeps nothing: nothing in berth's containerd reads a
// registry.
func MustRegister(...Collector) {}
