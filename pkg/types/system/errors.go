package system

import "strings"

// BackendUnavailableError says that berthd answered but a daemon it relies
// on did not: containerd (or berth-snapshotter, which containerd calls)
// was not reachable, most often because it is being restarted (berthd
// restarts it when it stops). It wraps an errdefs.ErrUnavailable and
// crosses the API as a typed reason, so a client can tell it from berthd
// itself being down.
type BackendUnavailableError struct {
	// Backend names the daemon that did not answer when berthd knows it
	// ("berth-snapshotter"); empty means containerd.
	Backend string
	Err     error
}

// BackendSnapshotter is the Backend of an error berth-snapshotter caused.
const BackendSnapshotter = "berth-snapshotter"

// BackendEtcd is the Backend of an error the cluster's etcd caused (its
// server errors read "etcdserver: ...").
const BackendEtcd = "the cluster's etcd"

func (e *BackendUnavailableError) Error() string { return e.Err.Error() }
func (e *BackendUnavailableError) Unwrap() error { return e.Err }

// BackendNamed is the daemon an Unavailable error names by its socket:
// berth-snapshotter for snapshotter.sock (containerd passes on the errors of
// its connection to the snapshotter: a build step's or a container's
// snapshot while the snapshotter restarts), the cluster's etcd for an
// etcd server's error, "" for any other (containerd).
func BackendNamed(err error) string {
	switch {
	case err == nil:
		return ""
	case strings.Contains(err.Error(), "snapshotter.sock"):
		return BackendSnapshotter
	case strings.Contains(err.Error(), "etcdserver: "):
		return BackendEtcd
	}
	return ""
}
