// Package container holds the container types the API, the client and the
// CLI share with the engine (Config, Container, Summary, Stats, mounts…)
// and their pure helpers (ParseBind). It imports only the standard library
// and github.com/containerd/errdefs, so that the berth CLI does not link
// the engine; engine/container uses these types directly.
package container
