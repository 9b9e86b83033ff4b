package image

// NotFoundError is "No such image": Ref names no image in the local store.
// It wraps an errdefs.ErrNotFound and crosses the API as a typed reason
// (proto/berth/v1/conv), so a client can tell a missing image (pull it)
// from any other missing thing without reading the message.
type NotFoundError struct {
	Ref string
	Err error
}

func (e *NotFoundError) Error() string { return e.Err.Error() }
func (e *NotFoundError) Unwrap() error { return e.Err }

// RegistryUnreachableError says that the registry Host could not be
// reached (berthd is up; the registry is not). It wraps an
// errdefs.ErrUnavailable and crosses the API as a typed reason.
type RegistryUnreachableError struct {
	Host string
	Err  error
}

func (e *RegistryUnreachableError) Error() string { return e.Err.Error() }
func (e *RegistryUnreachableError) Unwrap() error { return e.Err }
