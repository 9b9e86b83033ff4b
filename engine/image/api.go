package image

import "github.com/berthproject/berth/pkg/api"

// The service's contract is declared once, in pkg/api.
var _ api.Images = (*Service)(nil)
