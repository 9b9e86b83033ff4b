package commands

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/build"
)

// buildClient records what `berth build` sends.
type buildClient struct {
	Client
	b fakeBuilds
}

// fakeBuilds is the builder's side of buildClient.
type fakeBuilds struct {
	opts  build.Options
	files []string
}

func (c *buildClient) Builds() api.Builds { return &c.b }
func (c *buildClient) Close() error       { return nil }

func (c *fakeBuilds) Build(_ context.Context, opts build.Options, r io.Reader, events func(build.Event) error) (*build.Result, error) {
	c.opts = opts
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		c.files = append(c.files, h.Name)
	}
	sort.Strings(c.files)
	_ = events(build.Event{Logs: []build.VertexLog{{Vertex: "v", Data: []byte("hi\n")}}})
	return &build.Result{ImageID: "sha256:abc", Tags: opts.Tags}, nil
}

func (c *fakeBuilds) DiskUsage(context.Context) ([]build.CacheRecord, error) { return nil, nil }
func (c *fakeBuilds) Prune(context.Context, build.PruneOptions) (*build.PruneReport, error) {
	return &build.PruneReport{}, nil
}

func runBuildCLI(t *testing.T, c *buildClient, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "b.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Connect:   func(context.Context, string) (Client, error) { return c, nil },
		Version:   "test",
	}
	code := Main(context.Background(), NewApp(e, Build(e, "build")), append([]string{"berth", "-H", sock, "build"}, args...))
	return result{code, out.String(), errb.String()}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The context is filtered by .dockerignore here; the Dockerfile, the
// build arguments (a bare name from the environment) and the secrets
// travel in the options.
func TestBuildSendsFilteredContext(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"Dockerfile":              "FROM busybox\n",
		".dockerignore":           "*.log\nnode_modules\n!keep.log\n",
		"a.txt":                   "a",
		"x.log":                   "x",
		"keep.log":                "k",
		"node_modules/m/index.js": "m",
		"secret.txt":              "s3cr3t",
	})
	c := &buildClient{}
	r := runBuildCLI(t, c, "", map[string]string{"FROMENV": "e"}, "-q", "-t", "app:1", "--build-arg", "A=1", "--build-arg", "FROMENV", "--build-arg", "UNSET",
		"--secret", "id=tok,src="+filepath.Join(dir, "secret.txt"), dir)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "sha256:abc" {
		t.Fatalf("build -q: %+v", r)
	}
	want := []string{".dockerignore", "Dockerfile", "a.txt", "keep.log", "secret.txt"}
	if strings.Join(c.b.files, " ") != strings.Join(want, " ") {
		t.Errorf("context sent %v, want %v", c.b.files, want)
	}
	if string(c.b.opts.Dockerfile) != "FROM busybox\n" || c.b.opts.BuildArgs["A"] != "1" || c.b.opts.BuildArgs["FROMENV"] != "e" {
		t.Errorf("options %+v", c.b.opts)
	}
	if _, ok := c.b.opts.BuildArgs["UNSET"]; ok {
		t.Errorf("an unset --build-arg NAME was sent")
	}
	if string(c.b.opts.Secrets["tok"]) != "s3cr3t" || c.b.opts.ContextKey == "" {
		t.Errorf("secret or context key missing: %+v", c.b.opts)
	}
	// -f - reads the Dockerfile from stdin.
	r = runBuildCLI(t, c, "FROM scratch\n", nil, "-q", "-f", "-", dir)
	if r.code != 0 || string(c.b.opts.Dockerfile) != "FROM scratch\n" {
		t.Errorf("-f -: %+v, %q", r, c.b.opts.Dockerfile)
	}
}

func TestBuildBadInput(t *testing.T) {
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform", "linux/s390x", dir}, "only for this host's platform"},
		{[]string{"-o", "type=s3", dir}, "type is image, registry, local, tar, oci or docker"},
		{[]string{"-o", "type=image,dest=x", dir}, "takes no dest"},
		{[]string{"--push", dir}, "--push needs a name"},
		{[]string{"--push", "-t", "a", "-o", "type=tar,dest=x", dir}, "cannot go with --output type=tar"},
		{[]string{"--add-host", "a:b", dir}, "not an IP address"},
		{[]string{"--shm-size", "x", dir}, "--shm-size"},
		{[]string{"--ulimit", "nofile=a", dir}, "--ulimit"},
		{[]string{"--ssh", "default", dir}, "$SSH_AUTH_SOCK is not set"},
		{[]string{"--ssh", "k=" + filepath.Join(dir, "nokey"), dir}, "no such file"},
		{[]string{"--cache-from", "type=s3,bucket=x", dir}, "registry, local and inline"},
		{[]string{"--cache-from", "type=inline", dir}, "inline cache is read from an image"},
		{[]string{"--cache-to", "type=registry", dir}, "needs ref="},
		{[]string{"--cache-to", "type=inline", "-o", "type=local,dest=x", dir}, "needs an image"},
		{[]string{"-o", "type=local", dir}, "no dest"},
		{[]string{"--progress", "fancy", dir}, "--progress"},
		{[]string{"--network", "bridge0", dir}, "default, host or none"},
		{[]string{"--secret", "id=x", dir}, "$x is not set"},
		{[]string{"-t", "App:1", dir}, "lowercase"},
		{[]string{"-f", filepath.Join(dir, "nope"), dir}, "does not exist"},
		{[]string{filepath.Join(dir, "Dockerfile")}, "not a directory"},
	} {
		c := &buildClient{}
		r := runBuildCLI(t, c, "", nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("build %v: exit %d, stderr %q; want an error with %q", tc.args, r.code, r.stderr, tc.want)
		}
		if c.b.opts.Dockerfile != nil {
			t.Errorf("build %v: sent a build despite the error", tc.args)
		}
	}
}
