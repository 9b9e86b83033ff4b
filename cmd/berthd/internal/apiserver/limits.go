package apiserver

import "google.golang.org/grpc"

// Message size limits of berthd's API, per message, in both directions of
// every call (docs/api.md "Limits"). Data streams send chunks of at most
// 1 MiB, far below them; what may come near are lists and inspects
// of very many objects (server to client) and a container config with a
// very large environment (client to server).
const (
	// MaxRecvMsgSize bounds a message a client sends (grpc-go's default
	// is 4 MiB).
	MaxRecvMsgSize = 16 << 20
	// MaxSendMsgSize bounds a message berthd sends; pkg/client accepts
	// messages up to this size.
	MaxSendMsgSize = 64 << 20
)

// ServerOptions are the grpc.Server options berthd's API is served with:
// the message size limits above. A larger message fails its call with
// RESOURCE_EXHAUSTED.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxSendMsgSize(MaxSendMsgSize),
	}
}
