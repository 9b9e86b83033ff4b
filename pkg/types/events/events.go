// Package events holds berth's event types, in Docker's event shape: what
// happened to containers, images, networks and volumes (Message, Actor) and
// how a subscriber selects them (Filter). It imports only the standard
// library, so that the CLI and the Go client do not link the engine; the
// bus that publishes them is engine/events.
package events

import (
	"time"
)

// Event types (Message.Type).
const (
	TypeContainer = "container"
	TypeImage     = "image"
	TypeNetwork   = "network"
	TypeVolume    = "volume"
	TypeDaemon    = "daemon"
	TypeService   = "service"
)

// Actor is what the event is about: an ID and attributes such as name, image,
// exitCode, signal.
type Actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// Message is one event, as `docker events --format '{{json .}}'` shows it.
type Message struct {
	Type   string    `json:"Type"`
	Action string    `json:"Action"` // create, start, die, stop, kill, destroy, pause, unpause, rename, restart, oom, exec_create, exec_start, exec_die, tag, untag, delete, import, load, ...
	Actor  Actor     `json:"Actor"`
	Time   time.Time `json:"time"`
}

// Filter selects events for Subscribe. Keys as Docker's: type, event (action),
// container (ID or name), image, label (key or key=value).
type Filter struct {
	Since   time.Time
	Until   time.Time
	Filters map[string][]string
}
