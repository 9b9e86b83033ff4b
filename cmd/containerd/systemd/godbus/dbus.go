// Package dbus stands in for godbus/dbus in berth's containerd, which
// never talks to systemd (see
// cmd/containerd/systemd/go-systemd/dbus): it has the two names
// containerd's cgroups package is written with, and no connection.
package dbus

// Error is an error a D-Bus peer replied with: never, here.
type Error struct {
	Name string
	Body []any
}

func (e Error) Error() string { return e.Name }

// Variant is a value of any D-Bus type.
type Variant struct{ value any }

// MakeVariant wraps v.
func MakeVariant(v any) Variant { return Variant{v} }
