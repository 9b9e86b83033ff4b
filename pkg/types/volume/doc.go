// Package volume holds the volume types the API, the client and the CLI
// share with the engine (Volume, CreateOptions, PruneOptions) and ValidName.
// It imports only the standard library and github.com/containerd/errdefs,
// so that the berth CLI does not link the engine; engine/volume uses
// these types directly.
package volume
