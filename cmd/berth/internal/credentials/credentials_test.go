package credentials

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":{"https://other:5000":{"auth":"eDp5"}},"psFormat":"table {{.ID}}"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Store{Path: path}
	if _, ok, err := s.Get(ctx, "127.0.0.1:5000"); err != nil || ok {
		t.Fatalf("Get before Save: ok=%v err=%v", ok, err)
	}
	if err := s.Save(ctx, Auth{ServerAddress: "http://127.0.0.1:5000/", Username: "alice", Password: "pa:ss"}); err != nil {
		t.Fatal(err)
	}
	a, ok, err := s.Get(ctx, "127.0.0.1:5000")
	if err != nil || !ok || a.Username != "alice" || a.Password != "pa:ss" {
		t.Fatalf("Get = %+v %v %v", a, ok, err)
	}
	// An entry written with a scheme by another tool is found.
	if a, ok, _ := s.Get(ctx, "other:5000"); !ok || a.Username != "x" || a.Password != "y" {
		t.Errorf("other:5000 = %+v %v", a, ok)
	}
	b, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["psFormat"] != "table {{.ID}}" {
		t.Errorf("unknown key lost: %s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if found, err := s.Erase(ctx, "127.0.0.1:5000"); err != nil || !found {
		t.Fatalf("Erase: %v %v", found, err)
	}
	if _, ok, _ := s.Get(ctx, "127.0.0.1:5000"); ok {
		t.Error("still there after Erase")
	}
	if found, _ := s.Erase(ctx, "127.0.0.1:5000"); found {
		t.Error("second Erase found something")
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"": DockerHubKey, "docker.io": DockerHubKey, "https://index.docker.io/v1/": DockerHubKey,
		"127.0.0.1:5000": "127.0.0.1:5000", "https://reg.example:443/": "reg.example:443",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// A credential helper implemented as a shell script keeping its store in a
// directory, as the protocol describes (action argument, JSON on stdio).
const helperScript = `#!/bin/sh
dir=%DIR%
case "$1" in
store) cat > "$dir/in.json"; url=$(sed 's/.*"ServerURL":"\([^"]*\)".*/\1/' "$dir/in.json"); cp "$dir/in.json" "$dir/$(echo "$url" | tr '/:' '__')";;
get) read url; f="$dir/$(echo "$url" | tr '/:' '__')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi;;
erase) read url; rm -f "$dir/$(echo "$url" | tr '/:' '__')";;
esac
`

func TestHelper(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	store := filepath.Join(dir, "store")
	for _, d := range []string{bin, store} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.ReplaceAll(helperScript, "%DIR%", store)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-berthtest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"credHelpers":{"127.0.0.1:5000":"berthtest"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Store{Path: path}
	if _, ok, err := s.Get(ctx, "127.0.0.1:5000"); err != nil || ok {
		t.Fatalf("Get before Save: ok=%v err=%v", ok, err)
	}
	if err := s.Save(ctx, Auth{ServerAddress: "127.0.0.1:5000", Username: "bob", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "pw") || strings.Contains(string(b), "Ym9i") {
		t.Errorf("the secret went to the file: %s", b)
	}
	a, ok, err := s.Get(ctx, "127.0.0.1:5000")
	if err != nil || !ok || a.Username != "bob" || a.Password != "pw" {
		t.Fatalf("Get = %+v %v %v", a, ok, err)
	}
	if _, err := s.Erase(ctx, "127.0.0.1:5000"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, "127.0.0.1:5000"); err != nil || ok {
		t.Fatalf("Get after Erase: ok=%v err=%v", ok, err)
	}
	// A helper that is not installed is a clear error.
	if err := os.WriteFile(path, []byte(`{"credsStore":"nosuchhelper"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "x:1"); err == nil || !strings.Contains(err.Error(), "docker-credential-nosuchhelper") {
		t.Errorf("missing helper: %v", err)
	}
}
