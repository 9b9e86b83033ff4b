// Package system holds the daemon-wide types the API, the client and the
// CLI share with the engine (Info, Version, DiskUsage). It imports only the
// standard library, so that the berth CLI does not link the engine; package
// engine uses them directly.
package system
