package container

import "github.com/berthproject/berth/pkg/api"

// The service's contract (methods and their errors) is declared once, in
// pkg/api; the verbs live in the files named after them. Beyond it the
// service has Stats, StatPath, CopyFrom, Connect, Disconnect and LayerSize,
// whose shapes are the engine's own.
var _ api.Containers = (*Service)(nil)
