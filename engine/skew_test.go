package engine

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestVersionSkew(t *testing.T) {
	for _, c := range []struct {
		got  string
		warn bool
	}{
		{"v2.3.7", false},
		{"2.3.0", false},
		{"v2.3.9-rc.1", false},
		{"2.3.7+unknown", false},
		{"v2.4.0", true},
		{"v2.2.1", true},
		{"1.7.27", true},
		{"v3.3.0", true},
		{"", true},
		{"dev", true},
	} {
		msg := versionSkew(c.got, "v2.3.7")
		if (msg != "") != c.warn {
			t.Errorf("containerd %q against v2.3.7: warning %q, want one: %v", c.got, msg, c.warn)
		}
		if c.warn && (!strings.Contains(msg, c.got) || !strings.Contains(msg, "v2.3.7")) {
			t.Errorf("the warning does not name both versions: %q", msg)
		}
	}
}

// TestTestedContainerd: the version berthd compares with is the one the
// Makefile builds and the tests run.
func TestTestedContainerd(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CONTAINERD_VERSION\s*:=\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CONTAINERD_VERSION in the Makefile")
	}
	if string(m[1]) != TestedContainerd {
		t.Errorf("engine.TestedContainerd is %s, the Makefile builds containerd %s: keep them equal", TestedContainerd, m[1])
	}
	// The daemon is built from cmd/containerd, a module of its own.
	b, err = os.ReadFile("../cmd/containerd/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`(?m)^\s*github.com/containerd/containerd/v2 (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("cmd/containerd/go.mod does not require github.com/containerd/containerd/v2")
	}
	if string(m[1]) != TestedContainerd {
		t.Errorf("cmd/containerd builds containerd %s, engine.TestedContainerd is %s: keep them equal", m[1], TestedContainerd)
	}
}
