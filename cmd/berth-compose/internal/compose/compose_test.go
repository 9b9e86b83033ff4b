package compose

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthproject/berth/pkg/types/container"
)

func loadTestProject(t *testing.T, dir string, a *app) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(abs)
	p, err := a.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A project with .env interpolation, an override file, extends, include,
// anchors and a profile loads as docker compose loads it, and every field
// reaches the container berthd is asked for.
func TestLoadAndConvert(t *testing.T) {
	t.Setenv("UNSET_VAR", "")
	os.Unsetenv("UNSET_VAR")
	a := &app{env: Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}}
	p := loadTestProject(t, "full", a)
	if p.Name != "full" {
		t.Errorf("project name = %q, want the directory's, full", p.Name)
	}
	if got := p.ServiceNames(); !slices.Equal(got, []string{"api", "web", "worker"}) {
		t.Errorf("services = %v, want api web worker (debug is in an inactive profile)", got)
	}
	if err := check(p); err != nil {
		t.Fatalf("check: %v", err)
	}
	web := p.Services["web"]
	cfg, err := containerConfig(p, web, "full-web-1", 1, false, "h", func(string) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	checks := []struct {
		what      string
		got, want any
	}{
		{"image (.env)", cfg.Image, "busybox:1.36"},
		{"user (override file)", cfg.User, "1000"},
		{"restart (anchor)", cfg.RestartPolicy.Name, "unless-stopped"},
		{"env", strings.Join(cfg.Env, " "), "FROM_FILE=yes MODE=prod"},
		{"network mode", cfg.NetworkMode, "full_back"},
		{"aliases", len(cfg.Networks), 2},
		{"ports", len(cfg.PortBindings), 2},
		{"udp port", cfg.PortBindings[1], container.PortBinding{HostIP: "127.0.0.1", ContainerPort: 9000, Proto: "udp"}},
		{"binds", strings.Join(cfg.Binds, " "), filepath.Join(wd, "site") + ":/www:ro"},
		{"stop timeout", *cfg.StopTimeout, 3},
		{"init", cfg.Init, true},
		{"cpus", cfg.Resources.NanoCPUs, int64(5e8)},
		{"memory", cfg.Resources.Memory, int64(64 << 20)},
		{"pids", cfg.Resources.PidsLimit, int64(100)},
		{"label", cfg.Labels["team"], "shop"},
		{"project label", cfg.Labels[labelProject], "full"},
		{"service label", cfg.Labels[labelService], "web"},
		{"depends_on label", cfg.Labels[labelDependsOn], "api:service_healthy:true"},
		{"oneoff label", cfg.Labels[labelOneoff], "False"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	var front *container.NetworkAttachment
	for i := range cfg.Networks {
		if cfg.Networks[i].Network == "full_front" {
			front = &cfg.Networks[i]
		}
	}
	if front == nil || !slices.Equal(front.Aliases, []string{"web", "www"}) {
		t.Errorf("front attachment = %+v, want aliases web www", front)
	}
	wantMounts := map[string]container.MountSpec{
		"/data":              {Type: "volume", Source: "full_data", Target: "/data"},
		"/conf":              {Type: "bind", Source: filepath.Join(wd, "conf"), Target: "/conf"},
		"/cache":             {Type: "tmpfs", Target: "/cache", TmpfsSize: 1 << 20},
		"/run/secrets/token": {Type: "bind", Source: filepath.Join(wd, "token.txt"), Target: "/run/secrets/token", ReadOnly: true},
		"/etc/app.conf":      {Type: "bind", Source: filepath.Join(wd, "app.conf"), Target: "/etc/app.conf", ReadOnly: true},
	}
	for _, m := range cfg.Mounts {
		if w, ok := wantMounts[m.Target]; !ok || w != m {
			t.Errorf("mount %+v, want %+v", m, w)
		}
		delete(wantMounts, m.Target)
	}
	if len(wantMounts) > 0 {
		t.Errorf("mounts missing: %v", wantMounts)
	}

	api := p.Services["api"]
	if api.WorkingDir != "/srv" || replicas(api) != 2 {
		t.Errorf("api (extends) working_dir %q replicas %d, want /srv and 2", api.WorkingDir, replicas(api))
	}
	acfg, err := containerConfig(p, api, "full-api-1", 1, false, "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := acfg.Healthcheck; h == nil || h.Interval != time.Second || h.Retries != 2 || h.Test[0] != "CMD-SHELL" {
		t.Errorf("healthcheck = %+v", h)
	}
	wcfg, err := containerConfig(p, p.Services["worker"], "full-worker-1", 1, false, "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wcfg.Tmpfs["/run"] != "size=65536" {
		t.Errorf("worker (include) tmpfs = %v", wcfg.Tmpfs)
	}
}

// The config hash changes with what changes a container, and not with
// scale, depends_on or profiles (as docker compose's).
func TestServiceHash(t *testing.T) {
	s := types.ServiceConfig{Name: "a", ContainerSpec: types.ContainerSpec{Image: "busybox"}}
	h1, _ := serviceHash(s)
	n := 3
	s2 := s
	s2.Scale = &n
	s2.Profiles = []string{"x"}
	if h2, _ := serviceHash(s2); h2 != h1 {
		t.Error("scale and profiles changed the hash")
	}
	s3 := s
	s3.Environment = types.NewMappingWithEquals([]string{"A=1"})
	if h3, _ := serviceHash(s3); h3 == h1 {
		t.Error("environment did not change the hash")
	}
}

// Every field berth compose does not honour is refused by name, all at
// once.
func TestCheckRefusesByName(t *testing.T) {
	a := &app{env: Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}}
	p := loadTestProject(t, "bad", a)
	err := check(p)
	if err == nil {
		t.Fatal("check accepted develop, userns_mode, ipv6_address and models")
	}
	for _, want := range []string{
		`service "x": "develop.watch[0].action" is not supported by berth compose`,
		`service "x": "userns_mode" is not supported by berth compose`,
		`service "x": "networks.n.ipv6_address" is not supported by berth compose`,
		`model "m": top-level "models" are not supported by berth compose`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Unknown fields, depends_on cycles and missing env files are refused with
// a message naming the problem.
func TestBadInputMessages(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cases := []struct{ file, want string }{
		{"services:\n  x:\n    image: busybox\n    bogus: 1\n", "services.x.bogus: unknown field"},
		{"services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", "dependency cycle detected"},
		{"services:\n  a:\n    image: busybox\n    env_file: missing.env\n", "missing.env not found"},
	}
	for _, c := range cases {
		if err := os.WriteFile("compose.yaml", []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code := Main(context.Background(), Env{Stdout: &out, Stderr: &out}, []string{"berth-compose", "config"})
		if code != 1 || !strings.Contains(out.String(), c.want) {
			t.Errorf("config of %q: exit %d, %q; want 1 and %q", c.file, code, out.String(), c.want)
		}
	}
	var out bytes.Buffer
	code := Main(context.Background(), Env{Stdout: &out, Stderr: &out}, []string{"berth-compose", "--env-file", "nope.env", "config"})
	if code != 1 || !strings.Contains(out.String(), "nope.env") {
		t.Errorf("--env-file nope.env: exit %d, %q", code, out.String())
	}
}

// A service's build section becomes one `berth build` command line.
func TestBuildArgs(t *testing.T) {
	v := "1"
	p := &types.Project{Name: "shop", Secrets: types.Secrets{"tok": {File: "/srv/tok"}}}
	s := types.ServiceConfig{Name: "web", WorkloadSpec: types.WorkloadSpec{Build: &types.BuildConfig{
		Context: "/srv/web", Dockerfile: "docker/Dockerfile", Target: "prod",
		Args: types.MappingWithEquals{"A": &v, "FROM_ENV": nil}, Labels: types.Labels{"l": "x"},
		Tags: []string{"web:extra"}, Secrets: []types.ServiceSecretConfig{{Source: "tok"}}, NoCache: true,
	}}}
	args, stdin, err := buildArgs(p, s, buildOptions{args: []string{"B=2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "build -t shop-web --progress plain -t web:extra -f /srv/web/docker/Dockerfile --build-arg A=1 --build-arg FROM_ENV --build-arg B=2 --label l=x --target prod --no-cache --secret id=tok,src=/srv/tok /srv/web"
	if got := strings.Join(args, " "); got != want || stdin != "" {
		t.Errorf("buildArgs =\n%s\nwant\n%s", got, want)
	}
	s.Build.DockerfileInline, s.Build.Dockerfile = "FROM busybox\n", ""
	args, stdin, _ = buildArgs(p, s, buildOptions{})
	if !slices.Contains(args, "-") || stdin != "FROM busybox\n" {
		t.Errorf("dockerfile_inline: args %v stdin %q", args, stdin)
	}
}
