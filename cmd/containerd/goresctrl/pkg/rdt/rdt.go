// Package rdt stands in for goresctrl's RDT classes in berth's containerd,
// which is built with no_rdt: only `go mod tidy`, which looks at every
// build tag, needs it.
package rdt

import "errors"

var errUnsupported = errors.New("RDT classes are not supported by berth's containerd")

// Initialize fails: berth's containerd has no RDT.
func Initialize(string) error { return errUnsupported }

// SetConfigFromFile fails: berth configures no RDT classes.
func SetConfigFromFile(string, bool) error { return errUnsupported }

// ContainerClassFromAnnotations finds no class.
func ContainerClassFromAnnotations(string, map[string]string, map[string]string) (string, error) {
	return "", nil
}
