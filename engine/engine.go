// Package engine is berth's embeddable container engine: a thin layer that
// turns container and image requests into containerd calls. berthd serves it
// over gRPC; an orchestrator can use it directly with engine.New.
package engine
