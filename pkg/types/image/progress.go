package image

// Progress is one update of a pull or push, as Docker's progress stream
// carries it. Either ID is set (a layer or blob: its state changed or its
// byte count moved), or Message is a plain line for the whole operation.
type Progress struct {
	// ID is the blob's short digest (12 hex characters).
	ID string `json:"id,omitempty"`
	// Status is the blob's state: one of the Status* constants.
	Status string `json:"status,omitempty"`
	// Current and Total are bytes transferred and the blob's size.
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
	// Message is a line about the operation ("latest: Pulling from app",
	// "Digest: sha256:…", "Status: Downloaded newer image for app:latest").
	Message string `json:"message,omitempty"`
}

// Blob states in Progress.Status.
const (
	StatusWaiting          = "Waiting"
	StatusDownloading      = "Downloading"
	StatusDownloadComplete = "Download complete"
	StatusExtracting       = "Extracting"
	StatusPullComplete     = "Pull complete"
	StatusAlreadyExists    = "Already exists"
	StatusPreparing        = "Preparing"
	StatusPushing          = "Pushing"
	StatusPushed           = "Pushed"
	StatusLayerExists      = "Layer already exists"
)

// ProgressFunc receives progress updates; it is called from one goroutine
// at a time.
type ProgressFunc func(Progress)
