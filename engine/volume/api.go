package volume

import "github.com/berthproject/berth/pkg/api"

// The service's contract is declared once, in pkg/api.
var _ api.Volumes = (*Service)(nil)
