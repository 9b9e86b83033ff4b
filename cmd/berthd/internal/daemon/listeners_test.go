package daemon

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenUnix: a socket another process answers on is refused with a
// message that says so; a stale one is replaced, with mode 0660.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	busy := filepath.Join(dir, "busy.sock")
	l, err := net.Listen("unix", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := ListenUnix(busy, "", slog.Default()); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("busy socket: %v", err)
	}

	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l2, err := ListenUnix(stale, "", slog.Default())
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	defer l2.Close()
	if st, err := os.Stat(stale); err != nil || st.Mode().Perm() != 0o660 || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %v %v", st.Mode(), err)
	}
}
