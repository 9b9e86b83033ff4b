package image

import (
	"time"
)

// PruneOptions configure Prune.
type PruneOptions struct {
	// All removes every image no container uses, not only dangling ones.
	All bool
	// Filters are Docker's image prune filters: dangling=true|false
	// (false: as All), until=TIME (images created before TIME, an RFC 3339
	// time: the edges turn durations and Unix times into one),
	// label=KEY[=VALUE] and label!=KEY[=VALUE]. Values of one key must all
	// match.
	Filters map[string][]string
}

// PruneReport is what Prune removed.
type PruneReport struct {
	Deleted []DeleteResponse `json:"ImagesDeleted"`
	// SpaceReclaimed is the sum of the removed images' sizes.
	SpaceReclaimed int64 `json:"SpaceReclaimed"`
}

// HistoryEntry is one row of `berth history`, newest first.
type HistoryEntry struct {
	// ID is the image ID on the top entry, "<missing>" on the others (as
	// Docker shows an image whose parents are not local images).
	ID        string    `json:"Id"`
	Created   time.Time `json:"Created"`
	CreatedBy string    `json:"CreatedBy"`
	Tags      []string  `json:"Tags"`
	// Size is the entry's layer size (unpacked when unpacked, else
	// compressed); 0 for an empty layer.
	Size    int64  `json:"Size"`
	Comment string `json:"Comment"`
}
