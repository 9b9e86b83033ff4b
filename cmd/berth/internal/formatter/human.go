package formatter

import (
	"fmt"
	"time"

	"github.com/docker/go-units"
)

// HumanDuration is Docker's wording of a duration: "Less than a second",
// "3 minutes", "About an hour", "2 days".
func HumanDuration(d time.Duration) string {
	return units.HumanDuration(d)
}

// Ago is "3 minutes ago" for a time in the past relative to now.
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return HumanDuration(now.Sub(t)) + " ago"
}

// HumanSize is a size in decimal units with three significant digits, as
// `docker images` shows it: "4.2MB", "1.23GB", "512B".
func HumanSize(bytes int64) string {
	return units.HumanSizeWithPrecision(float64(bytes), 3)
}

// ContainerStatus is the STATUS column of `ps`: "Created", "Up 3 minutes",
// "Up 3 minutes (Paused)", "Restarting (1) 2 seconds ago",
// "Exited (0) 2 seconds ago", "Dead".
func ContainerStatus(state string, exitCode int, startedAt, finishedAt, now time.Time) string {
	switch state {
	case "running":
		return "Up " + HumanDuration(now.Sub(startedAt))
	case "paused":
		return "Up " + HumanDuration(now.Sub(startedAt)) + " (Paused)"
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s", exitCode, Ago(finishedAt, now))
	case "exited":
		if finishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", exitCode)
		}
		return fmt.Sprintf("Exited (%d) %s", exitCode, Ago(finishedAt, now))
	case "dead":
		return "Dead"
	case "removing":
		return "Removal In Progress"
	case "created", "":
		return "Created"
	}
	return state
}
