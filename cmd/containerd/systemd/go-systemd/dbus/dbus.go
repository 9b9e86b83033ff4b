// Package dbus stands in for go-systemd's systemd client in berth's
// containerd. containerd's cgroups package links it to make systemd
// slices and scopes (cgroup1.NewSystemd, cgroup2.NewSystemd, the
// systemd cgroup driver), which berth's containerd never does: it is
// built with no_systemd, and it only moves itself into its config's
// [cgroup] path, a cgroupfs path (cgroup1.Load and New with a
// StaticPath, cgroup2.Load). Connecting fails, naming berth's containerd.
package dbus

import (
	"context"
	"errors"

	"github.com/godbus/dbus/v5"
)

var errUnsupported = errors.New("systemd's D-Bus API is not supported by berth's containerd")

// Property is a unit's property.
type Property struct {
	Name  string
	Value dbus.Variant
}

// PropDescription is a unit's description.
func PropDescription(desc string) Property {
	return Property{Name: "Description", Value: dbus.MakeVariant(desc)}
}

// PropWants is a unit's Wants=.
func PropWants(units ...string) Property {
	return Property{Name: "Wants", Value: dbus.MakeVariant(units)}
}

// PropSlice is a unit's Slice=.
func PropSlice(slice string) Property {
	return Property{Name: "Slice", Value: dbus.MakeVariant(slice)}
}

// Conn would be a connection to systemd: there is never one.
type Conn struct{}

// NewWithContext fails: berth's containerd never talks to systemd.
func NewWithContext(context.Context) (*Conn, error) { return nil, errUnsupported }

// Close does nothing: there is no connection.
func (*Conn) Close() {}

// StartTransientUnitContext fails.
func (*Conn) StartTransientUnitContext(context.Context, string, string, []Property, chan<- string) (int, error) {
	return 0, errUnsupported
}

// StopUnitContext fails.
func (*Conn) StopUnitContext(context.Context, string, string, chan<- string) (int, error) {
	return 0, errUnsupported
}

// ResetFailedUnitContext fails.
func (*Conn) ResetFailedUnitContext(context.Context, string) error { return errUnsupported }

// GetManagerProperty fails.
func (*Conn) GetManagerProperty(string) (string, error) { return "", errUnsupported }
