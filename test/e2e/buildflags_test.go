package e2e

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// runStepsDockerfile records what a RUN step sees of its /etc/hosts,
// /dev/shm and open-files limit.
const runStepsDockerfile = `FROM busybox
RUN grep -e buildhost -e gwhost /etc/hosts > /hosts; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm; ulimit -n > /nofile; ulimit -Hn > /nofile-hard
`

// TestBuildRunOptions: --add-host (host-gateway included), --shm-size and
// --ulimit shape the RUN steps' containers, through berth build, the
// Docker API's POST /build (docker build with DOCKER_BUILDKIT=0) and
// buildx.
func TestBuildRunOptions(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"Dockerfile": runStepsDockerfile})
	// host-gateway is the default bridge's gateway, as docker0's address
	// is with dockerd.
	gw := c.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge")
	if gw == "" {
		t.Fatal("the default bridge has no gateway")
	}
	check := func(t *testing.T, c cli, img string) {
		t.Helper()
		out := c.ok("run", "--rm", img, "cat", "/hosts")
		if !regexp.MustCompile(`(?m)^10\.1\.2\.3\s+buildhost$`).MatchString(out) {
			t.Errorf("/etc/hosts of the RUN step: %q, want buildhost 10.1.2.3", out)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(gw) + `\s+gwhost$`).MatchString(out) {
			t.Errorf("/etc/hosts of the RUN step: %q, want gwhost %s (host-gateway)", out, gw)
		}
		if out := c.ok("run", "--rm", img, "cat", "/shm"); out != "131072" {
			t.Errorf("/dev/shm of the RUN step is %q KB, want 131072 (128m)", out)
		}
		if out := c.ok("run", "--rm", img, "cat", "/nofile", "/nofile-hard"); out != "1000\n2000" {
			t.Errorf("ulimit -n, -Hn of the RUN step: %q, want 1000 and 2000", out)
		}
	}
	t.Run("CLI", func(t *testing.T) {
		c := cli{t: t, s: s}
		c.ok("build", "-q", "--add-host", "buildhost:10.1.2.3", "--add-host", "gwhost:host-gateway", "--shm-size", "128m", "--ulimit", "nofile=1000:2000", "-t", "runopts:1", dir)
		check(t, c, "runopts:1")
		// Bad values are refused before anything is sent.
		c.fails(1, []string{"--add-host", "not an IP address"}, "build", "--add-host", "x:nope", dir)
		c.fails(1, []string{"--shm-size"}, "build", "--shm-size", "lots", dir)
		c.fails(1, []string{"--ulimit"}, "build", "--ulimit", "nofile", dir)
	})
	t.Run("DockerAPI", func(t *testing.T) {
		d := dockerCLI(t, s, dockerBin(t), t.TempDir())
		d.ok("build", "-q", "--add-host", "buildhost:10.1.2.3", "--add-host", "gwhost:host-gateway", "--shm-size", "128m", "--ulimit", "nofile=1000:2000", "-t", "runopts:2", dir)
		check(t, c, "runopts:2")
	})
	t.Run("Buildx", func(t *testing.T) {
		d := buildxCLI(t, s)
		d.ok("buildx", "build", "-q", "--load", "--add-host", "buildhost:10.1.2.3", "--add-host", "gwhost:host-gateway", "--shm-size", "128m", "--ulimit", "nofile=1000:2000", "-t", "runopts:3", dir)
		check(t, c, "runopts:3")
	})
}

// buildxCLI is the docker CLI with buildx against s's Docker API.
func buildxCLI(t *testing.T, s *harness.Stack) cli {
	bin := dockerBin(t)
	cfg := dockerPlugins(t, "buildx")
	return cli{t: t, s: s, command: func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+s.DockerHost(), "DOCKER_CONFIG="+cfg, "DOCKER_CLI_HINTS=false", "DOCKER_BUILDKIT=1",
			"BUILDX_NO_DEFAULT_ATTESTATIONS=1")
		return cmd
	}}
}

// TestBuildCacheImportExport: cache exported to a registry, to a local
// directory and inline in a pushed image gives cached steps to a builder
// whose own cache was pruned.
func TestBuildCacheImportExport(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n",
		"a.txt":      "a1",
	})
	build := func(args ...string) (run, cached []string) {
		t.Helper()
		r := c.run(append(append([]string{"build", "--progress", "plain"}, args...), dir)...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return buildSteps(r.stderr)
	}
	prune := func() {
		t.Helper()
		c.ok("builder", "prune", "-a", "-f")
	}
	wantCached := func(what string, run, cached []string) {
		t.Helper()
		if len(run) != 0 || len(cached) != 3 {
			t.Errorf("%s: ran %q, cached %q; want the 3 steps cached", what, run, cached)
		}
	}

	cacheRef := reg.Addr() + "/cache/app:buildcache"
	if run, _ := build("--cache-to", "type=registry,ref="+cacheRef+",mode=max", "-t", "cacheie:1"); len(run) != 3 {
		t.Fatalf("first build ran %q, want 3 steps", run)
	}
	prune()
	if run, _ := build("-t", "cacheie:2"); len(run) != 3 {
		t.Fatalf("after builder prune -a, a build without --cache-from ran %q, want all 3 steps", run)
	}
	prune()
	run, cached := build("--cache-from", "type=registry,ref="+cacheRef, "-t", "cacheie:3")
	wantCached("--cache-from type=registry on a pruned builder", run, cached)
	if out := c.ok("run", "--rm", "cacheie:3", "cat", "/copy"); out != "a1" {
		t.Errorf("the image built from the registry's cache has %q", out)
	}

	local := filepath.Join(t.TempDir(), "cache")
	build("--cache-to", "type=local,dest="+local, "-t", "cacheie:4")
	if _, err := os.Stat(filepath.Join(local, "index.json")); err != nil {
		t.Errorf("--cache-to type=local wrote no OCI layout: %v", err)
	}
	prune()
	run, cached = build("--cache-from", "type=local,src="+local, "-t", "cacheie:5")
	wantCached("--cache-from type=local on a pruned builder", run, cached)

	// Inline cache travels in the pushed image; a bare NAME is a registry ref.
	img := reg.Addr() + "/cache/inline:1"
	build("--cache-to", "type=inline", "--push", "-t", img)
	prune()
	run, cached = build("--cache-from", img, "-t", "cacheie:6")
	wantCached("--cache-from NAME of an image pushed with inline cache", run, cached)

	c.fails(1, []string{"--cache-to", "registry, local and inline"}, "build", "--cache-to", "type=gha", dir)
	c.fails(1, []string{"--cache-from", "needs src="}, "build", "--cache-from", "type=local", dir)
	c.fails(1, []string{"--cache-to type=inline", "needs an image"}, "build", "--cache-to", "type=inline", "-o", "type=local,dest="+t.TempDir(), dir)
}

// TestBuildOutputPush: --output type=oci|docker|tar write archives,
// type=image stores the image, --push puts it in a registry from which a
// clean engine pulls and runs it; what cannot go together is refused.
func TestBuildOutputPush(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo pushed > /msg\nCMD [\"cat\", \"/msg\"]\n"})

	out := t.TempDir()
	oci, dock, tarf := filepath.Join(out, "oci.tar"), filepath.Join(out, "docker.tar"), filepath.Join(out, "files.tar")
	c.ok("build", "-q", "-o", "type=oci,dest="+oci, "-t", "outp:oci", dir)
	if names := tarNames(t, oci); !names["oci-layout"] || !names["index.json"] {
		t.Errorf("--output type=oci: the archive has %v, want an OCI layout", names)
	}
	c.ok("build", "-q", "--output", "type=docker,dest="+dock, "-t", "outp:docker", dir)
	if names := tarNames(t, dock); !names["manifest.json"] {
		t.Errorf("--output type=docker: the archive has %v, want a docker archive", names)
	}
	if c.exists("outp:docker") {
		t.Errorf("--output type=docker,dest=… also stored the image")
	}
	c.ok("load", "-i", dock)
	if got := c.ok("run", "--rm", "outp:docker"); got != "pushed" {
		t.Errorf("the loaded docker archive runs: %q", got)
	}
	c.ok("build", "-q", "-o", "type=tar,dest="+tarf, dir)
	if names := tarNames(t, tarf); !names["msg"] || !names["bin/busybox"] {
		t.Errorf("--output type=tar: %v, want the image's files", names)
	}
	c.ok("build", "-q", "-o", "type=image", "-t", "outp:image", dir)
	if got := c.ok("run", "--rm", "outp:image"); got != "pushed" {
		t.Errorf("--output type=image: %q", got)
	}

	ref := reg.Addr() + "/outp/app:1"
	c.ok("build", "-q", "--push", "-t", ref, dir)
	ref2 := reg.Addr() + "/outp/app:2"
	c.ok("build", "-q", "-o", "type=registry", "-t", ref2, dir)
	// buildx through berth's Docker API pushes with BuildKit's exporter.
	ref3 := reg.Addr() + "/outp/app:3"
	bx := buildxCLI(t, s)
	bx.ok("buildx", "build", "-q", "--push", "-t", ref3, dir)
	// --output of buildx and of docker build (buildx's alias) through
	// berth's Docker API: the files come back through the client's
	// session, as with dockerd.
	local := filepath.Join(out, "local")
	bx.ok("buildx", "build", "-q", "-o", "type=local,dest="+local, dir)
	if b, err := os.ReadFile(filepath.Join(local, "msg")); err != nil || string(b) != "pushed\n" {
		t.Errorf("buildx -o type=local: msg %q %v, want pushed", b, err)
	}
	bxTar := filepath.Join(out, "buildx.tar")
	bx.ok("build", "-q", "--output", "type=tar,dest="+bxTar, dir)
	if names := tarNames(t, bxTar); !names["msg"] || !names["bin/busybox"] {
		t.Errorf("docker build --output type=tar: %v, want the image's files", names)
	}
	clean := harness.Start(t)
	cc := cli{t: t, s: clean}
	for _, r := range []string{ref, ref2, ref3} {
		cc.ok("pull", "-q", r)
		if got := cc.ok("run", "--rm", r); got != "pushed" {
			t.Errorf("the image pushed as %s, pulled on a clean engine, runs: %q", r, got)
		}
	}

	c.fails(1, []string{"--push needs a name"}, "build", "--push", dir)
	c.fails(1, []string{"--push", "cannot go with --output type=local"}, "build", "--push", "-t", ref, "-o", "type=local,dest="+t.TempDir(), dir)
	c.fails(1, []string{"--output", "no dest"}, "build", "-o", "type=oci", dir)
	c.fails(1, []string{"--output", "type is image, registry, local, tar, oci or docker"}, "build", "-o", "type=s3", dir)
}

// tarNames are the names of a tar's entries.
func tarNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		names[strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "./")] = true
	}
}

// TestBuildSSH: --ssh default forwards the user's ssh-agent (of
// $SSH_AUTH_SOCK) to RUN --mount=type=ssh, and --ssh ID=KEYFILE serves a
// key file as an agent: the host's ssh-add, copied into the image with its
// libraries, lists the key inside the RUN step.
func TestBuildSSH(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"ssh-agent", "ssh-add", "ssh-keygen", "ldd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (apt install openssh-client)", bin)
		}
	}
	s := harness.Start(t)
	s.LoadBusybox()
	tmp := t.TempDir()
	key := filepath.Join(tmp, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-build-key", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-f", key+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := strings.Fields(string(fp))[1] // SHA256:…
	sock := filepath.Join(tmp, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	eventually(t, 10*time.Second, "the ssh-agent's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}

	// The context: ssh-add and the libraries it needs.
	dir := buildCtx(t, map[string]string{"Dockerfile": `FROM busybox
COPY ssh/ /ssh/
RUN --mount=type=ssh /ssh/ld.so --library-path /ssh /ssh/ssh-add -l > /default-agent 2>&1 || true
RUN --mount=type=ssh,id=deploy /ssh/ld.so --library-path /ssh /ssh/ssh-add -l > /deploy-key 2>&1 || true
RUN /ssh/ld.so --library-path /ssh /ssh/ssh-add -l > /no-agent 2>&1 || true
`})
	copySSHAdd(t, filepath.Join(dir, "ssh"))

	c := cli{t: t, s: s, command: func(args ...string) *exec.Cmd {
		cmd := s.Cmd(args...)
		cmd.Env = append(cmd.Environ(), "SSH_AUTH_SOCK="+sock)
		return cmd
	}}
	c.ok("build", "-q", "--ssh", "default", "--ssh", "deploy="+key, "-t", "sshbuild:1", dir)
	if out := c.ok("run", "--rm", "sshbuild:1", "cat", "/default-agent"); !strings.Contains(out, fingerprint) || !strings.Contains(out, "berth-build-key") {
		t.Errorf("ssh-add -l in a RUN with --ssh default: %q, want the agent's key %s", out, fingerprint)
	}
	if out := c.ok("run", "--rm", "sshbuild:1", "cat", "/deploy-key"); !strings.Contains(out, fingerprint) {
		t.Errorf("ssh-add -l in a RUN with --ssh deploy=KEYFILE: %q, want the key %s", out, fingerprint)
	}
	if out := c.ok("run", "--rm", "sshbuild:1", "cat", "/no-agent"); strings.Contains(out, fingerprint) {
		t.Errorf("a RUN without --mount=type=ssh sees the agent: %q", out)
	}
	// A RUN that requires an ssh id the build was not given fails by name.
	bad := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=ssh,id=other,required=true true\n"})
	c.fails(1, []string{"other"}, "build", "--ssh", "default", bad)
}

// copySSHAdd copies the host's ssh-add and its shared libraries into dir,
// the dynamic loader as ld.so.
func copySSHAdd(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, _ := exec.LookPath("ssh-add")
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	files := map[string]string{bin: "ssh-add"}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			files[f[2]] = filepath.Base(f[0])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/") && strings.Contains(f[0], "ld-linux"):
			files[f[0]] = "ld.so"
		}
	}
	for src, name := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildNetwork: RUN steps run in a network namespace of their own on
// berth's default bridge: they see only lo and their eth, not the host's
// interfaces, and reach a container on the bridge; --network host sees the
// host's interfaces, --network none only lo. They run with berth's shim.
func TestBuildNetwork(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	web := c.name("bweb")
	c.ok("run", "-d", "--name", web, "busybox", "sh", "-c", "mkdir /www && echo hello-from-the-bridge > /www/index.html && exec httpd -f -p 8080 -h /www")
	t.Cleanup(func() { c.run("rm", "-f", web) })
	ip := c.inspect(web, "{{.NetworkSettings.IPAddress}}")
	if ip == "" {
		t.Fatalf("the web container has no address on the default bridge")
	}
	bridge := c.ok("network", "inspect", "--format", `{{index .Options "com.docker.network.bridge.name"}}`, "bridge")
	if bridge == "" {
		t.Fatalf("the default network names no bridge interface")
	}
	dir := buildCtx(t, map[string]string{"Dockerfile": `FROM busybox
ARG WEB
RUN ls /sys/class/net | tr '\n' ' ' > /ifaces; (for i in 1 2 3 4 5; do wget -q -O - http://$WEB:8080/ && break; sleep 1; done) > /fetched 2>&1 || true
`})
	build := func(tag string, args ...string) {
		t.Helper()
		c.ok(append(append([]string{"build", "-q", "--build-arg", "WEB=" + ip, "-t", tag}, args...), dir)...)
	}
	build("bnet:default")
	if out := c.ok("run", "--rm", "bnet:default", "cat", "/ifaces"); !regexp.MustCompile(`^eth\d+ lo$`).MatchString(out) {
		t.Errorf("a RUN step sees the interfaces %q, want only its eth and lo (its own namespace)", out)
	}
	if out := c.ok("run", "--rm", "bnet:default", "cat", "/fetched"); out != "hello-from-the-bridge" {
		t.Errorf("a RUN step fetched %q from a container on the default bridge", out)
	}
	build("bnet:host", "--network", "host")
	if out := c.ok("run", "--rm", "bnet:host", "cat", "/ifaces"); !strings.Contains(" "+out, " "+bridge+" ") {
		t.Errorf("a RUN step with --network host sees %q, want the host's interfaces (%s among them)", out, bridge)
	}
	build("bnet:none", "--network", "none")
	if out := c.ok("run", "--rm", "bnet:none", "cat", "/ifaces"); out != "lo" {
		t.Errorf("a RUN step with --network none sees %q, want only lo", out)
	}

	// A RUN step runs with the engine's runtime, berth's shim, as a
	// container does: seen in containerd while the step waits for the
	// test to let it go (a file served by the web container).
	webID := c.inspect(web, "{{.Id}}")
	gate := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nARG WEB\nRUN until wget -q -O /dev/null http://$WEB:8080/go; do sleep 0.2; done\n"})
	cmd := c.cmd("build", "-q", "--build-arg", "WEB="+ip, gate)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	runtime := ""
	eventually(t, 2*time.Minute, "the build step's container in containerd", func() bool {
		for _, l := range strings.Split(s.Ctr("containers", "ls").Stdout, "\n")[1:] {
			if f := strings.Fields(l); len(f) == 3 && f[0] != webID {
				runtime = f[2]
				return true
			}
		}
		return false
	})
	c.ok("exec", web, "touch", "/www/go")
	if err := <-done; err != nil {
		t.Fatalf("the gated build: %v\n%s", err, out.String())
	}
	if runtime != "io.containerd.berth.v2" {
		t.Errorf("a RUN step ran with the runtime %q, want berth's shim io.containerd.berth.v2", runtime)
	}
}
