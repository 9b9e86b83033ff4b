package image

// PullOptions configure Pull.
type PullOptions struct {
	// Platform ("linux/arm64") picks the image of a multi-platform index;
	// default: the service's platform. An image pulled for another platform
	// is stored and can be saved and pushed, but not run here.
	Platform string
	// Auth are the user's credentials for the image's registry (nil: none).
	Auth *AuthConfig
	// Progress, if set, receives the pull's progress.
	Progress ProgressFunc
}
