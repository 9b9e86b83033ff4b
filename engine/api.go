package engine

import "github.com/berthproject/berth/pkg/api"

// The engine serves the daemon-wide noun of the contract in pkg/api; its
// services serve the others (Containers, Images, Volumes).
var _ api.System = (*Engine)(nil)
