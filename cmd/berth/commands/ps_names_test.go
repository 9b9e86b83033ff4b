package commands

import (
	"testing"

	"github.com/berthproject/berth/pkg/types/container"
)

// ps shows a container's own name; the names it has as the target of
// legacy links (PARENT/ALIAS) only with --no-trunc, as the docker CLI.
func TestPsNamesOfLinkTargets(t *testing.T) {
	s := container.Summary{Names: []string{"/db", "/app/mydb"}}
	if got := (containerRow{s: s, trunc: true}).Names(); got != "db" {
		t.Errorf("truncated: %q", got)
	}
	if got := (containerRow{s: s}).Names(); got != "db,app/mydb" {
		t.Errorf("--no-trunc: %q", got)
	}
}
