module github.com/coreos/go-systemd/v22

go 1.26.8

require github.com/godbus/dbus/v5 v5.1.0
