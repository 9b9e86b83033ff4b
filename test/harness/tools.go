package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// Tool returns the path of a tool `make deps` builds into
// $BERTH_LIBEXEC/tools (grpcurl, buf); the test is skipped when it is
// missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	_, libexec, err := binDirs()
	if err != nil {
		t.Skip(err.Error())
	}
	p := filepath.Join(libexec, "tools", name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Skipf("%s missing: run `make deps` (it builds %s into %s)", p, name, filepath.Dir(p))
	}
	return p
}
