package image

// The types the API and CLI share live in pkg/types/image, a leaf package
// the berth CLI links without the engine; these aliases keep the engine's
// API unchanged.

import image "github.com/berthproject/berth/pkg/types/image"

type (
	Progress       = image.Progress
	ProgressFunc   = image.ProgressFunc
	PruneOptions   = image.PruneOptions
	PruneReport    = image.PruneReport
	HistoryEntry   = image.HistoryEntry
	PullOptions    = image.PullOptions
	PushOptions    = image.PushOptions
	PushResult     = image.PushResult
	AuthConfig     = image.AuthConfig
	Image          = image.Image
	Config         = image.Config
	RootFS         = image.RootFS
	History        = image.History
	Summary        = image.Summary
	ListOptions    = image.ListOptions
	ImportOptions  = image.ImportOptions
	RemoveOptions  = image.RemoveOptions
	DeleteResponse = image.DeleteResponse
	Resolved       = image.Resolved
)

const (
	DanglingPrefix         = image.DanglingPrefix
	StatusWaiting          = image.StatusWaiting
	StatusDownloading      = image.StatusDownloading
	StatusDownloadComplete = image.StatusDownloadComplete
	StatusExtracting       = image.StatusExtracting
	StatusPullComplete     = image.StatusPullComplete
	StatusAlreadyExists    = image.StatusAlreadyExists
	StatusPreparing        = image.StatusPreparing
	StatusPushing          = image.StatusPushing
	StatusPushed           = image.StatusPushed
	StatusLayerExists      = image.StatusLayerExists
)

// IsDangling reports whether a containerd image name is berth's internal name
// for an untagged image.
func IsDangling(name string) bool { return image.IsDangling(name) }

// NormalizeName turns a user's image name into the full name stored in
// containerd, as Docker does: "busybox" → "docker.io/library/busybox:latest",
// "localhost:5000/app" → "localhost:5000/app:latest". A name with a digest
// keeps it. Invalid names are errdefs.ErrInvalidArgument.
func NormalizeName(s string) (string, error) { return image.NormalizeName(s) }

// FamiliarName is the Docker-style display form of a containerd image name:
// "docker.io/library/busybox:latest" → "busybox:latest". A dangling name
// gives "<none>:<none>"; a name that does not parse is returned unchanged.
func FamiliarName(name string) string { return image.FamiliarName(name) }
