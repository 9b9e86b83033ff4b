package system

// BackendUnavailableError says that berthd answered but a daemon it relies
// on did not: containerd (or berth-snapshotter, which containerd calls)
// was not reachable, most often because it is being restarted (berthd
// restarts it when it stops). It wraps an errdefs.ErrUnavailable and
// crosses the API as a typed reason, so a client can tell it from berthd
// itself being down.
type BackendUnavailableError struct {
	Err error
}

func (e *BackendUnavailableError) Error() string { return e.Err.Error() }
func (e *BackendUnavailableError) Unwrap() error { return e.Err }
