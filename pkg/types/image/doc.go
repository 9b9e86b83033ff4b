// Package image holds the image types the API, the client and the CLI
// share with the engine (Image, Summary, Progress, pull/push/prune options
// and reports…) and their pure helpers (NormalizeName, FamiliarName). It
// imports only the standard library and small modules (errdefs,
// distribution/reference, image-spec), so that the berth CLI does not link
// the engine; engine/image uses these types directly.
package image
