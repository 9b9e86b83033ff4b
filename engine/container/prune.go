package container

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Prune removes every container that is not running (created, exited,
// dead) and matches opts' filters, as Docker's container prune. A container
// removed or started meanwhile is skipped, not an error.
func (s *Service) Prune(ctx context.Context, opts containertypes.PruneOptions) (*containertypes.PruneReport, error) {
	listFilters := map[string][]string{"status": {"created", "exited", "dead"}}
	var until time.Time
	for key, vals := range opts.Filters {
		switch key {
		case "label", "label!":
			listFilters[key] = vals
		case "until":
			for _, v := range vals {
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return nil, fmt.Errorf("invalid filter 'until=%s': want a time (RFC 3339): %w", v, errdefs.ErrInvalidArgument)
				}
				if until.IsZero() || t.Before(until) {
					until = t
				}
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s': container prune takes until, label and label!: %w", key, errdefs.ErrInvalidArgument)
		}
	}
	list, err := s.List(ctx, containertypes.ListOptions{All: true, Filters: listFilters})
	if err != nil {
		return nil, err
	}
	report := &containertypes.PruneReport{ContainersDeleted: []string{}}
	for _, c := range list {
		if !until.IsZero() && !c.Created.Before(until) {
			continue
		}
		rw, _, _ := s.sizes(ctx, c.ID) // best effort: the size only informs the report
		if err := s.Remove(ctx, c.ID, containertypes.RemoveOptions{}); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) || errdefs.IsFailedPrecondition(err) {
				continue // gone meanwhile, or started: not ours to remove
			}
			return report, err
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		if rw > 0 {
			report.SpaceReclaimed += uint64(rw)
		}
	}
	return report, nil
}
