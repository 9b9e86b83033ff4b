// Package blockio stands in for goresctrl's block I/O classes in berth's
// containerd. containerd's tasks service links it for its
// blockio_config_file setting, which berth never sets, and the real
// package brings k8s.io/apimachinery, a CBOR codec and YAML with it
// (~0.8 MB of binary, docs/performance.md "Idle daemons, third pass").
package blockio

import (
	"errors"

	oci "github.com/opencontainers/runtime-spec/specs-go"
)

var errUnsupported = errors.New("block I/O classes are not supported by berth's containerd")

// SetConfigFromFile fails: berth configures no block I/O classes.
func SetConfigFromFile(string, bool) error { return errUnsupported }

// OciLinuxBlockIO fails: there are no classes.
func OciLinuxBlockIO(string) (*oci.LinuxBlockIO, error) { return nil, errUnsupported }

// ContainerClassFromAnnotations finds no class.
func ContainerClassFromAnnotations(string, map[string]string, map[string]string) (string, error) {
	return "", nil
}
