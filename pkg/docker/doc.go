// Package docker is the Docker Engine API's view of berth's objects: it
// converts the types of pkg/types (containers, images, networks, volumes)
// to the request and response types of github.com/moby/moby/api, the ones
// dockerd sends. berthd's Docker API serves them, and the berth CLI's
// inspect prints them, so both show one shape.
//
// Conversions are pure: they take what the engine returned and build the
// Docker value, filling in the defaults dockerd reports (log driver,
// restart policy "no", network mode) so clients that index into them find
// the keys they expect. Marshal applies the per-version differences a
// client of an older API version expects (fields removed from the newest
// structs are added back).
package docker
