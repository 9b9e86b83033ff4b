package api

import (
	"context"

	"github.com/berthproject/berth/pkg/types/system"
)

// System is the daemon-wide noun.
type System interface {
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) (*system.Version, error)
	DiskUsage(ctx context.Context) (*system.DiskUsage, error)
}
