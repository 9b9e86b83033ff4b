package berthv1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestBreakingChangeCheck runs make lint's proto check (make proto-check:
// buf lint, buf breaking) on copies of proto/: an unchanged copy passes,
// and each kind of change the stability promise (docs/api.md) forbids,
// made on purpose in a copy, fails the check with buf naming it.
func TestBreakingChangeCheck(t *testing.T) {
	buf := harness.Tool(t, "buf") // built by make deps
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	base := copyProto(t, repo)

	check := func(t *testing.T, dir string) (string, error) {
		t.Helper()
		cmd := exec.Command("make", "--no-print-directory", "-C", repo, "proto-check",
			"TOOLSDIR="+filepath.Dir(buf), "PROTO_DIR="+dir, "PROTO_AGAINST="+base)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(t, copyProto(t, repo)); err != nil {
		t.Fatalf("an unchanged copy fails the check: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name, file, old, new string
		want                 string // in buf's report
	}{
		{"field renumbered", "containers.proto", "string image_id = 4;", "string image_id = 40;",
			`Previously present field "4" with name "image_id" on message "ContainerSummary" was deleted`},
		{"field removed", "containers.proto", "  string command = 5;\n", "",
			`Previously present field "5" with name "command" on message "ContainerSummary" was deleted`},
		{"field retyped", "containers.proto", "string image_id = 4;", "bytes image_id = 4;",
			`changed type from "string" to "bytes"`},
		{"call removed", "containers.proto", "  rpc Pause(PauseContainerRequest) returns (PauseContainerResponse);\n", "",
			`Previously present RPC "Pause" on service "ContainersService" was deleted`},
		{"field renamed", "containers.proto", "string image_id = 4;", "string image_digest = 4;",
			`changed name from "image_id" to "image_digest"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyProto(t, repo)
			path := filepath.Join(dir, "berth", "v1", tc.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("%s no longer has %q: update the test", tc.file, tc.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := check(t, dir)
			if err == nil {
				t.Fatalf("the breaking change passed the check:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("buf's report lacks %q:\n%s", tc.want, out)
			}
		})
	}

	// Adding is allowed: a new field and a new call pass.
	dir := copyProto(t, repo)
	path := filepath.Join(dir, "berth", "v1", "containers.proto")
	b, _ := os.ReadFile(path)
	s := strings.Replace(string(b), "message StartContainerRequest {\n  string id = 1;\n", "message StartContainerRequest {\n  string id = 1;\n  // A field added later.\n  string detach_keys = 99;\n", 1)
	if s == string(b) {
		t.Fatal("StartContainerRequest changed: update the test")
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := check(t, dir); err != nil {
		t.Errorf("an added field fails the check: %v\n%s", err, out)
	}
}

// copyProto copies the repository's proto/ (.proto files and buf.yaml) to
// a temp dir and returns the copy's path.
func copyProto(t *testing.T, repo string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "proto")
	src := filepath.Join(repo, "proto")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(p, ".proto") && d.Name() != "buf.yaml" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
