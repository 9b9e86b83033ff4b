package image

// PushOptions configure Push.
type PushOptions struct {
	// Auth are the user's credentials for the registry (nil: none).
	Auth *AuthConfig
	// Progress, if set, receives the push's progress.
	Progress ProgressFunc
}

// PushResult is what a push stored in the registry.
type PushResult struct {
	// Tag is the tag pushed ("latest").
	Tag string
	// Digest is the manifest (or index) digest in the registry.
	Digest string
	// Size is the manifest's size in bytes.
	Size int64
}
