// Package api declares berth's API once, one interface per noun:
// Containers, Images, Networks, Volumes and System. Every edge implements
// or consumes these same interfaces, and each implementation asserts it at
// compile time:
//
//   - the engine's services implement them (engine/container.Service,
//     engine/image.Service, engine/network.Service, engine/volume.Service,
//     engine.Engine);
//   - the Go client implements them over gRPC (pkg/client.Client, and its
//     Images(), Networks() and Volumes() views);
//   - the gRPC server (cmd/berthd/internal/apiserver), the Docker Engine API
//     (cmd/berthd/internal/dockerapi) and the CLI (cmd/berth) consume them.
//
// Adding a verb to an interface therefore fails to compile until the engine
// and the client both have it, and the CLI's test fakes, which embed the
// interfaces, keep compiling.
//
// A verb whose shape differs between the engine and the wire is not in the
// contract: the engine's one-shot Stats and its CopyFrom into a writer, the
// client's streaming Stats and CopyFrom reader, Ping and Events (the engine
// hands out its event bus; the client streams). Each edge declares those
// next to where it uses them.
//
// The package imports only the standard library and pkg/types, so that
// any program may import it without linking the engine.
//
// Every container reference accepts a full ID, a unique ID prefix or a name;
// an unknown one is errdefs.ErrNotFound ("No such container: <id>").
// Conflicts (name in use, removing a running container without Force) are
// errdefs.ErrConflict; the wrong state (pause of a stopped container) is
// errdefs.ErrFailedPrecondition; bad input is errdefs.ErrInvalidArgument.
package api
