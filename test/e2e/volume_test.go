package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
	"github.com/berthproject/berth/test/images/imagegen"
)

// volImage is a test image with content at /seed (no VOLUME) and an image
// VOLUME /data holding hello.txt.
const volImage = "docker.io/library/volimg:latest"

// loadVolImage builds volImage from the busybox image and loads it.
func loadVolImage(t *testing.T, s *harness.Stack) {
	t.Helper()
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Name: volImage})
	if err != nil {
		t.Fatal(err)
	}
	spec.Layers = append(spec.Layers, imagegen.Layer{Comment: "seed", Entries: []imagegen.Entry{
		{Name: "data", Type: tar.TypeDir, Mode: 0o755},
		{Name: "data/hello.txt", Type: tar.TypeReg, Mode: 0o644, Data: []byte("hello from the image\n")},
		{Name: "seed", Type: tar.TypeDir, Mode: 0o750, UID: 65534, GID: 65534},
		{Name: "seed/a.txt", Type: tar.TypeReg, Mode: 0o640, Data: []byte("seed a\n"), UID: 65534, GID: 65534},
		{Name: "seed/sub", Type: tar.TypeDir, Mode: 0o755},
		{Name: "seed/sub/b.txt", Type: tar.TypeReg, Mode: 0o644, Data: []byte("seed b\n")},
	}})
	spec.Config.Volumes = map[string]struct{}{"/data": {}}
	path := filepath.Join(t.TempDir(), "volimg.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if _, err := imagegen.WriteOCIArchive(w, spec); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.BerthOK("load", "-i", path)
}

// TestVolumes runs the volume and cp tests that can share one stack.
func TestVolumes(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	loadVolImage(t, s)
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"Lifecycle", testVolumeLifecycle},
		{"Shared", testVolumeShared},
		{"CopyUp", testVolumeCopyUp},
		{"ReadOnly", testVolumeReadOnly},
		{"Tmpfs", testVolumeTmpfs},
		{"VolumesFrom", testVolumesFrom},
		{"Binds", testVolumeBinds},
		{"DriverOptions", testVolumeDriverOptions},
		{"ExportImport", testVolumeExportImport},
		{"ImportEscapes", testVolumeImportEscapes},
		{"Cp", testCp},
		{"CpEscapes", testCpEscapes},
		{"Subpath", testVolumeSubpath},
		{"ImageMount", testImageMount},
		{"SharedBind", testSharedBind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// vol returns a volume name unique to this run, removed at the end.
func (c cli) vol(prefix string) string {
	c.t.Helper()
	n := prefix + "-" + strings.ToLower(rand.Text()[:6])
	c.t.Cleanup(func() { c.run("volume", "rm", "-f", n) })
	return n
}

func (c cli) volumeNames(args ...string) []string {
	c.t.Helper()
	return lines(c.ok(append([]string{"volume", "ls", "-q"}, args...)...))
}

func testVolumeLifecycle(t *testing.T, c cli) {
	v := c.vol("life")
	if got := c.ok("volume", "create", "--label", "team=a", v); got != v {
		t.Fatalf("volume create printed %q, want %q", got, v)
	}
	// Idempotent, as Docker's.
	c.ok("volume", "create", v)
	var info []map[string]any
	if err := json.Unmarshal([]byte(c.ok("volume", "inspect", v)), &info); err != nil || len(info) != 1 {
		t.Fatalf("volume inspect: %v %v", err, info)
	}
	mp, _ := info[0]["Mountpoint"].(string)
	if info[0]["Driver"] != "local" || info[0]["Name"] != v || !strings.HasPrefix(mp, c.s.Root()+"/volumes/"+v+"/_data") {
		t.Errorf("volume inspect: %v", info[0])
	}
	if got := c.ok("volume", "inspect", "-f", "{{.Labels.team}}", v); got != "a" {
		t.Errorf("label: %q", got)
	}
	if st, err := os.Stat(filepath.Join(c.s.Root(), "volumes", v, "meta.json")); err != nil || st.Size() == 0 {
		t.Errorf("metadata file: %v", err)
	}
	if !slices.Contains(c.volumeNames("--filter", "label=team=a"), v) || slices.Contains(c.volumeNames("--filter", "label=team=b"), v) {
		t.Error("ls --filter label")
	}
	if !slices.Contains(c.volumeNames("--filter", "name="+v[:8]), v) {
		t.Error("ls --filter name")
	}
	if got := c.ok("volume", "ls", "--filter", "name="+v, "--format", "{{.Name}}:{{.Driver}}:{{.Label \"team\"}}"); got != v+":local:a" {
		t.Errorf("ls --format: %q", got)
	}
	if !slices.Contains(c.volumeNames("--filter", "dangling=true"), v) {
		t.Error("an unused volume is dangling")
	}

	// In use: not dangling, not removable (running or not).
	ctr := c.name("life")
	c.ok("create", "--name", ctr, "-v", v+":/v", "busybox", "true")
	if slices.Contains(c.volumeNames("--filter", "dangling=true"), v) || !slices.Contains(c.volumeNames("--filter", "dangling=false"), v) {
		t.Error("a used volume is not dangling")
	}
	c.fails(1, []string{"volume is in use"}, "volume", "rm", v)
	c.fails(1, []string{"volume is in use"}, "volume", "rm", "-f", v)
	// Prunes are limited to this test's labels: the other subtests' unused
	// volumes are not ours to remove.
	c.ok("volume", "prune", "-f", "--all", "--filter", "label=team=a")
	if !slices.Contains(c.volumeNames(), v) {
		t.Fatal("prune removed a volume in use")
	}
	c.ok("rm", ctr)
	c.ok("volume", "rm", v)
	if slices.Contains(c.volumeNames(), v) {
		t.Error("volume still listed after rm")
	}
	if _, err := os.Stat(filepath.Join(c.s.Root(), "volumes", v)); !os.IsNotExist(err) {
		t.Errorf("volume dir left after rm: %v", err)
	}
	c.fails(1, []string{"No such volume"}, "volume", "rm", v)
	c.ok("volume", "rm", "-f", v)
	c.fails(1, []string{"No such volume"}, "volume", "inspect", v)

	// Bad names are refused, by volume create and by -v.
	for _, bad := range []string{"a", "-x", "a/b", "a:b", "..", "x y"} {
		if r := c.run("volume", "create", bad); r.code == 0 {
			t.Errorf("volume create %q succeeded", bad)
			c.run("volume", "rm", bad)
		}
	}
	c.fails(125, []string{"invalid"}, "run", "--rm", "-v", "bad!name:/x", "busybox", "true")

	// Prune: anonymous volumes by default, named ones with --all.
	mark := "prune=" + strings.ToLower(rand.Text()[:8])
	named := c.vol("prune")
	c.ok("volume", "create", "--label", mark, named)
	anon := c.ok("volume", "create", "--label", mark)
	c.t.Cleanup(func() { c.run("volume", "rm", "-f", anon) })
	if len(anon) != 64 {
		t.Errorf("anonymous volume name %q", anon)
	}
	out := c.ok("volume", "prune", "-f", "--filter", "label="+mark)
	if !strings.Contains(out, anon) || strings.Contains(out, named) {
		t.Errorf("volume prune: %s", out)
	}
	out = c.ok("volume", "prune", "-f", "--all", "--filter", "label="+mark)
	if !strings.Contains(out, named) {
		t.Errorf("volume prune --all: %s", out)
	}
}

// testVolumeShared: two running containers sharing a volume see each
// other's writes.
func testVolumeShared(t *testing.T, c cli) {
	v := c.vol("shared")
	a, b := c.name("sha"), c.name("shb")
	c.ok("run", "-d", "--name", a, "-v", v+":/shared", "busybox", "sleep", "600")
	c.ok("run", "-d", "--name", b, "--mount", "source="+v+",target=/mnt/s", "busybox", "sleep", "600")
	c.ok("exec", a, "sh", "-c", "echo from-a > /shared/a.txt")
	if got := c.ok("exec", b, "cat", "/mnt/s/a.txt"); got != "from-a" {
		t.Errorf("b reads %q", got)
	}
	c.ok("exec", b, "sh", "-c", "echo from-b > /mnt/s/b.txt")
	if got := c.ok("exec", a, "cat", "/shared/b.txt"); got != "from-b" {
		t.Errorf("a reads %q", got)
	}
	if got := c.inspect(a, `{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}`); got != "volume "+v+" /shared true" {
		t.Errorf("inspect Mounts: %q", got)
	}
	// Named volumes are never removed with their container (rm -v included).
	c.ok("rm", "-f", "-v", a, b)
	if !slices.Contains(c.volumeNames(), v) {
		t.Fatal("rm -v removed a named volume")
	}
	if got := c.ok("run", "--rm", "-v", v+":/s", "busybox", "cat", "/s/a.txt", "/s/b.txt"); got != "from-a\nfrom-b" {
		t.Errorf("after removal: %q", got)
	}
}

// testVolumeCopyUp: a new volume is filled with the image's content at its
// path, unless nocopy; an image VOLUME gets an anonymous volume; rm -v
// removes anonymous volumes.
func testVolumeCopyUp(t *testing.T, c cli) {
	v := c.vol("copyup")
	out := c.ok("run", "--rm", "-v", v+":/seed", volImage, "sh", "-c", "cat /seed/a.txt /seed/sub/b.txt; stat -c '%u:%g %a' /seed /seed/a.txt")
	if out != "seed a\nseed b\n65534:65534 750\n65534:65534 640" {
		t.Errorf("copy-up: %q", out)
	}
	// The volume keeps its own content from now on (no second copy-up).
	c.ok("run", "--rm", "-v", v+":/seed", volImage, "rm", "/seed/a.txt")
	if got := c.ok("run", "--rm", "-v", v+":/seed", volImage, "ls", "/seed"); got != "sub" {
		t.Errorf("second use: %q", got)
	}

	nc := c.vol("nocopy")
	if got := c.ok("run", "--rm", "-v", nc+":/seed:nocopy", volImage, "ls", "-A", "/seed"); got != "" {
		t.Errorf("nocopy volume has %q", got)
	}
	nc2 := c.vol("nocopy2")
	if got := c.ok("run", "--rm", "--mount", "type=volume,src="+nc2+",dst=/seed,volume-nocopy", volImage, "ls", "-A", "/seed"); got != "" {
		t.Errorf("volume-nocopy volume has %q", got)
	}

	// The image's VOLUME /data: an anonymous volume with the image's content.
	ctr := c.name("imgvol")
	c.ok("run", "--name", ctr, volImage, "sh", "-c", "cat /data/hello.txt && echo mine > /data/mine.txt")
	anon := c.inspect(ctr, `{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}`)
	if len(anon) != 64 {
		t.Fatalf("no anonymous volume on /data: %q", anon)
	}
	if got := c.ok("volume", "inspect", "-f", "{{.Anonymous}}", anon); got != "true" {
		t.Errorf("anonymous: %q", got)
	}
	// dockerd's label for it: Docker tools tell anonymous volumes by it.
	if got := c.ok("volume", "inspect", "-f", `{{index .Labels "com.docker.volume.anonymous"}}|{{len .Labels}}`, anon); got != "|1" {
		t.Errorf("labels of the anonymous volume: %q, want com.docker.volume.anonymous alone", got)
	}
	data, err := os.ReadFile(filepath.Join(c.s.Root(), "volumes", anon, "_data", "hello.txt"))
	if err != nil || string(data) != "hello from the image\n" {
		t.Errorf("copied-up file in the volume: %q %v", data, err)
	}
	// -v /path: another anonymous volume.
	ctr2 := c.name("anonv")
	c.ok("create", "--name", ctr2, "-v", "/scratch", "busybox", "true")
	anon2 := c.inspect(ctr2, `{{range .Mounts}}{{.Name}}{{end}}`)
	c.ok("rm", ctr2) // without -v: the anonymous volume stays
	if !slices.Contains(c.volumeNames(), anon2) {
		t.Error("rm without -v removed the anonymous volume")
	}
	c.ok("volume", "rm", anon2)
	c.ok("rm", "-v", ctr)
	if slices.Contains(c.volumeNames(), anon) {
		t.Error("rm -v left the anonymous volume")
	}
	// --rm removes its anonymous volumes too.
	marker := "rm-marker-" + strings.ToLower(rand.Text()[:8])
	c.ok("run", "--rm", "-v", "/anon", volImage, "sh", "-c", "touch /data/"+marker+" /anon/"+marker)
	if found := findName(t, filepath.Join(c.s.Root(), "volumes"), marker); found != "" {
		t.Errorf("run --rm left its anonymous volumes: %s", found)
	}
}

// testVolumeReadOnly: :ro and readonly are enforced; --read-only makes the
// root read-only while volumes and tmpfs stay writable.
func testVolumeReadOnly(t *testing.T, c cli) {
	v := c.vol("ro")
	c.ok("run", "--rm", "-v", v+":/v", "busybox", "sh", "-c", "echo x > /v/x")
	r := c.run("run", "--rm", "-v", v+":/v:ro", "busybox", "sh", "-c", "echo y > /v/y")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf(":ro write: %s", r)
	}
	if got := c.ok("run", "--rm", "-v", v+":/v:ro", "busybox", "cat", "/v/x"); got != "x" {
		t.Errorf(":ro read: %q", got)
	}
	r = c.run("run", "--rm", "--mount", "type=volume,source="+v+",target=/v,readonly", "busybox", "touch", "/v/z")
	if r.code == 0 {
		t.Errorf("--mount readonly write: %s", r)
	}
	out := c.ok("run", "--rm", "--read-only", "-v", v+":/v", "--tmpfs", "/run", "busybox", "sh", "-c",
		"touch /root-file 2>/dev/null && echo root-writable; touch /v/ok && touch /run/ok && echo writable")
	if out != "writable" {
		t.Errorf("--read-only: %q", out)
	}
}

// testVolumeTmpfs: tmpfs content never reaches the disk and is gone with
// the container.
func testVolumeTmpfs(t *testing.T, c cli) {
	ctr := c.name("tmpfs")
	marker := "tmpfs-marker-" + strings.ToLower(rand.Text()[:8])
	c.ok("run", "-d", "--name", ctr, "--tmpfs", "/scratch:size=8m", "--mount", "type=tmpfs,target=/t2,tmpfs-size=1m,tmpfs-mode=1770",
		"busybox", "sleep", "600")
	c.ok("exec", ctr, "sh", "-c", "echo secret > /scratch/"+marker+" && echo secret > /t2/"+marker)
	mounts := c.ok("exec", ctr, "cat", "/proc/mounts")
	for _, want := range []string{"tmpfs /scratch tmpfs", "tmpfs /t2 tmpfs"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("no %q in /proc/mounts:\n%s", want, mounts)
		}
	}
	if !strings.Contains(mounts, "size=8192k") || !strings.Contains(mounts, "size=1024k,mode=1770") {
		t.Errorf("tmpfs options not applied:\n%s", mounts)
	}
	if got := c.ok("exec", ctr, "stat", "-c", "%a", "/t2"); got != "1770" {
		t.Errorf("tmpfs-mode: %q", got)
	}
	// As dockerd's inspect: --mount type=tmpfs is listed, --tmpfs is not.
	if got := c.inspect(ctr, "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}"); got != "tmpfs:/t2" {
		t.Errorf("inspect Mounts: %q, want tmpfs:/t2 alone", got)
	}
	// A --tmpfs over an anonymous volume's path wins, as under dockerd.
	over := c.name("tmpfs-over")
	defer c.cleanup(over)
	if got := c.ok("run", "--name", over, "-v", "/t", "--tmpfs", "/t", "busybox", "grep", " /t ", "/proc/mounts"); !strings.HasPrefix(got, "tmpfs /t tmpfs") {
		t.Errorf("-v /t --tmpfs /t: /proc/mounts says %q, want a tmpfs", got)
	}
	// Nowhere under the stack's root or state (snapshots, volumes) on disk.
	for _, dir := range []string{c.s.Root(), c.s.State()} {
		if found := findName(t, dir, marker); found != "" {
			t.Errorf("tmpfs file found on disk: %s", found)
		}
	}
	c.ok("stop", "-t", "0", ctr)
	c.ok("start", ctr)
	if r := c.run("exec", ctr, "ls", "/scratch/"+marker); r.code == 0 {
		t.Error("tmpfs content survived a restart of the container")
	}
	c.ok("rm", "-f", ctr)
	if found := findName(t, c.s.Root(), marker); found != "" {
		t.Errorf("tmpfs file found after removal: %s", found)
	}
}

// findName walks dir (not crossing into /proc) for a file named name.
func findName(t *testing.T, dir, name string) string {
	t.Helper()
	out, _ := exec.Command("find", dir, "-xdev", "-name", name).Output()
	return strings.TrimSpace(string(out))
}

// testVolumesFrom: --volumes-from mounts another container's volumes and
// binds, read-only with :ro.
func testVolumesFrom(t *testing.T, c cli) {
	v := c.vol("from")
	host := t.TempDir()
	src := c.name("vfsrc")
	c.ok("run", "--name", src, "-v", v+":/named", "-v", "/anon", "-v", host+":/host", "busybox", "sh", "-c",
		"echo n > /named/f; echo a > /anon/f; echo h > /host/f")
	dst := c.name("vfdst")
	if got := c.ok("run", "--name", dst, "--volumes-from", src, "busybox", "cat", "/named/f", "/anon/f", "/host/f"); got != "n\na\nh" {
		t.Errorf("--volumes-from: %q", got)
	}
	r := c.run("run", "--rm", "--volumes-from", src+":ro", "busybox", "touch", "/named/g")
	if r.code == 0 {
		t.Errorf("--volumes-from :ro write: %s", r)
	}
	// The anonymous volume stays while another container uses it.
	anon := c.inspect(src, `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`)
	c.ok("rm", "-v", src)
	if !slices.Contains(c.volumeNames(), anon) {
		t.Error("rm -v removed an anonymous volume another container uses")
	}
	c.ok("rm", dst)
	c.ok("volume", "rm", anon)
}

// testVolumeBinds: -v makes a missing host directory, --mount refuses it.
func testVolumeBinds(t *testing.T, c cli) {
	base := t.TempDir()
	missing := filepath.Join(base, "made", "by", "v")
	c.ok("run", "--rm", "-v", missing+":/m", "busybox", "sh", "-c", "echo hi > /m/f")
	if b, err := os.ReadFile(filepath.Join(missing, "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("-v of a missing host path: %q %v", b, err)
	}
	gone := filepath.Join(base, "not-there")
	c.fails(125, []string{"bind source path does not exist"}, "run", "--rm", "--mount", "type=bind,source="+gone+",target=/m", "busybox", "true")
	// The failed create gives its name back (it kept it until berthd
	// restarted: a docker compose recreate whose create failed).
	n := c.name("failedcreate")
	c.fails(125, []string{"bind source path does not exist"}, "create", "--name", n, "--mount", "type=bind,source="+gone+",target=/m", "busybox", "true")
	c.ok("create", "--name", n, "busybox", "true")
	c.ok("rm", n)
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Error("--mount type=bind created its source")
	}
	c.fails(125, []string{"invalid"}, "run", "--rm", "-v", "/a:relative", "busybox", "true")
	c.fails(125, []string{"invalid"}, "run", "--rm", "--mount", "type=nope,target=/x", "busybox", "true")
	// A bind and a tmpfs on one path are refused, as dockerd does; a
	// tmpfs over an anonymous volume's path wins (above).
	c.fails(125, []string{"duplicate mount point"}, "run", "--rm", "-v", t.TempDir()+":/x", "--tmpfs", "/x", "busybox", "true")
	// A failed create leaves no volume behind.
	v := c.vol("rollback")
	c.fails(125, nil, "run", "--rm", "-v", v+":/a", "--mount", "type=bind,source="+gone+",target=/b", "busybox", "true")
	if slices.Contains(c.volumeNames(), v) {
		t.Error("a failed create left its volume")
	}
	// A bind-propagation option is kept.
	ctr := c.name("prop")
	c.ok("create", "--name", ctr, "--mount", "type=bind,source="+base+",target=/b,bind-propagation=rslave,readonly", "busybox", "true")
	if got := c.inspect(ctr, `{{range .Mounts}}{{.Type}} {{.Source}} {{.Propagation}} {{.RW}}{{end}}`); got != "bind "+base+" rslave false" {
		t.Errorf("bind mount: %q", got)
	}
}

// sums is `sha256sum` of every file of dir in a container, sorted.
const sums = "cd /v && find . -type f | sort | xargs sha256sum"

// testVolumeExportImport: export then import into a new volume gives the
// same files (checksums), owners, modes and symlinks.
func testVolumeExportImport(t *testing.T, c cli) {
	v := c.vol("exp")
	c.ok("run", "--rm", "-v", v+":/v", "busybox", "sh", "-c",
		"mkdir -p /v/d/e && head -c 300000 /dev/urandom > /v/d/big && echo small > /v/s && chown 65534:65534 /v/s && chmod 600 /v/s && ln -s d/big /v/link && echo deep > /v/d/e/f")
	want := c.ok("run", "--rm", "-v", v+":/v", "busybox", "sh", "-c", sums+"; stat -c '%n %u %a' s; readlink link")
	file := filepath.Join(t.TempDir(), "backup.tar")
	c.ok("volume", "export", "-o", file, v)
	// stdout gives the same archive.
	stdout := c.ok("volume", "export", v)
	if fileBytes, _ := os.ReadFile(file); len(fileBytes) == 0 || len(strings.TrimSpace(string(fileBytes))) != len(stdout) {
		t.Errorf("export -o and stdout differ: %d vs %d bytes", len(fileBytes), len(stdout))
	}
	restored := c.vol("imp")
	c.ok("volume", "import", restored, file)
	got := c.ok("run", "--rm", "-v", restored+":/v", "busybox", "sh", "-c", sums+"; stat -c '%n %u %a' s; readlink link")
	if got != want || !strings.Contains(got, "d/big") {
		t.Errorf("restored volume differs:\n got %s\nwant %s", got, want)
	}
	// From stdin too.
	fromStdin := c.vol("imp2")
	b, _ := os.ReadFile(file)
	if r := c.runIn(bytes.NewReader(b), "volume", "import", fromStdin, "-"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	if got := c.ok("run", "--rm", "-v", fromStdin+":/v", "busybox", "sh", "-c", sums+"; stat -c '%n %u %a' s; readlink link"); got != want {
		t.Errorf("restored from stdin differs:\n got %s\nwant %s", got, want)
	}
}

// evilTar builds a tar from entries.
func evilTar(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h := h
		data := []byte("pwned\n")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(data)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// escapeCases are archives that try to write outside their target; outside
// is a host directory the test watches.
func escapeCases(t *testing.T, outside string) map[string][]byte {
	return map[string][]byte{
		"dotdot": evilTar(t, tar.Header{Name: "../../../../../../../.." + outside + "/dotdot", Typeflag: tar.TypeReg}),
		"abs":    evilTar(t, tar.Header{Name: outside + "/abs", Typeflag: tar.TypeReg}),
		"symlink-dir": evilTar(t,
			tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: outside},
			tar.Header{Name: "esc/viasymlink", Typeflag: tar.TypeReg}),
		"symlink-rel": evilTar(t,
			tar.Header{Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../.." + outside},
			tar.Header{Name: "rel/viarel", Typeflag: tar.TypeReg}),
		"symlink-file": evilTar(t,
			tar.Header{Name: "f", Typeflag: tar.TypeSymlink, Linkname: outside + "/target"},
			tar.Header{Name: "f", Typeflag: tar.TypeReg}),
		"hardlink": evilTar(t,
			tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../../../../../.." + outside + "/target"}),
	}
}

func checkOutsideUntouched(t *testing.T, outside, what string) {
	t.Helper()
	entries, _ := os.ReadDir(outside)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "target" {
		t.Errorf("%s wrote outside its target: %v", what, names)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "target")); string(b) != "original\n" {
		t.Errorf("%s changed a file outside its target: %q", what, b)
	}
}

// testVolumeImportEscapes: a tar with ../ entries, absolute names or
// symlinks pointing outside cannot write outside the volume.
func testVolumeImportEscapes(t *testing.T, c cli) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "target"), []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, archive := range escapeCases(t, outside) {
		v := c.vol("esc")
		c.runIn(bytes.NewReader(archive), "volume", "import", v, "-")
		checkOutsideUntouched(t, outside, "volume import "+name)
	}
}

// testCp: cp both ways, running and stopped containers, Docker's rules.
func testCp(t *testing.T, c cli) {
	host := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(host, "dir", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(host, "dir", "one.txt"), []byte("one\n"), 0o640))
	must(os.WriteFile(filepath.Join(host, "dir", "sub", "two.txt"), []byte("two\n"), 0o644))
	must(os.WriteFile(filepath.Join(host, "file.txt"), []byte("file\n"), 0o600))

	for _, running := range []bool{true, false} {
		ctr := c.name("cp")
		v := c.vol("cpv")
		if running {
			c.ok("run", "-d", "--name", ctr, "-v", v+":/vol", "busybox", "sleep", "600")
		} else {
			c.ok("create", "--name", ctr, "-v", v+":/vol", "busybox", "sleep", "600")
		}
		c.ok("cp", filepath.Join(host, "file.txt"), ctr+":/tmp/")        // into a dir
		c.ok("cp", filepath.Join(host, "file.txt"), ctr+":/tmp/renamed") // new name
		c.ok("cp", filepath.Join(host, "dir"), ctr+":/tmp/")             // a dir into a dir
		c.ok("cp", filepath.Join(host, "dir"), ctr+":/tmp/newdir")       // a dir as a new name
		c.ok("cp", filepath.Join(host, "dir")+"/.", ctr+":/vol")         // contents into a volume
		c.fails(1, []string{"no such directory"}, "cp", filepath.Join(host, "file.txt"), ctr+":/tmp/nodir/")
		c.fails(1, []string{"cannot copy a directory to a file"}, "cp", filepath.Join(host, "dir"), ctr+":/tmp/renamed")
		c.fails(1, []string{"Could not find the file"}, "cp", ctr+":/nope", host)

		if !running {
			c.ok("start", ctr)
		}
		got := c.ok("exec", ctr, "sh", "-c", "cat /tmp/file.txt /tmp/renamed /tmp/dir/one.txt /tmp/dir/sub/two.txt /tmp/newdir/sub/two.txt /vol/one.txt /vol/sub/two.txt; stat -c '%a %u' /tmp/file.txt")
		if got != "file\nfile\none\ntwo\ntwo\none\ntwo\n600 0" {
			t.Errorf("running=%v: files in the container: %q", running, got)
		}
		c.ok("exec", ctr, "sh", "-c", "mkdir -p /out/d && echo out > /out/d/x && echo v > /vol/fromctr && ln -s x /out/d/l")
		if !running {
			c.ok("stop", "-t", "0", ctr)
		}
		dst := t.TempDir()
		c.ok("cp", ctr+":/out/d", dst)                       // dir into existing dir
		c.ok("cp", ctr+":/out/d/x", filepath.Join(dst, "y")) // file to new name
		c.ok("cp", ctr+":/vol/fromctr", dst)                 // from a volume
		c.ok("cp", ctr+":/out/d/.", filepath.Join(dst, "contents"))
		for p, want := range map[string]string{"d/x": "out\n", "y": "out\n", "fromctr": "v\n", "contents/x": "out\n"} {
			if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
				t.Errorf("running=%v: cp out %s: %q %v", running, p, b, err)
			}
		}
		if l, err := os.Readlink(filepath.Join(dst, "d", "l")); err != nil || l != "x" {
			t.Errorf("running=%v: symlink copied as %q %v", running, l, err)
		}
		// A tar on stdout, and from stdin.
		tarOut := c.ok("cp", ctr+":/out/d/x", "-")
		if !strings.Contains(tarOut, "out") {
			t.Errorf("cp to stdout: %q", tarOut)
		}
		if r := c.runIn(bytes.NewReader(evilTar(t, tar.Header{Name: "in.txt", Typeflag: tar.TypeReg})), "cp", "-", ctr+":/tmp"); r.code != 0 {
			t.Errorf("cp from stdin: %s", r)
		}
	}
}

// testCpEscapes: symlinks in the container cannot make cp read or write
// outside the container's file system, nor can a tar from stdin.
func testCpEscapes(t *testing.T, c cli) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "target"), []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("payload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, running := range []bool{true, false} {
		ctr := c.name("cpesc")
		setup := "ln -s " + outside + " /abs && ln -s ../../../../../../.." + outside + " /rel && ln -s " + outside + "/target /file && mkdir -p " + outside + " && echo inside > " + outside + "/target"
		if running {
			c.ok("run", "-d", "--name", ctr, "busybox", "sh", "-c", setup+" && exec sleep 600")
			eventually(t, 30*time.Second, "the container's setup", func() bool { return c.run("exec", ctr, "cat", "/file").out() == "inside" })
		} else {
			c.ok("run", "--name", ctr, "busybox", "sh", "-c", setup)
		}
		// A link is copied as a link, not its target.
		linkDst := t.TempDir()
		c.ok("cp", ctr+":/file", filepath.Join(linkDst, "l"))
		if l, err := os.Readlink(filepath.Join(linkDst, "l")); err != nil || l != outside+"/target" {
			t.Errorf("symlink copied as %q %v", l, err)
		}
		// Writes through the links land in the container's own files (a
		// link as the destination itself is replaced).
		c.ok("cp", src, ctr+":/abs/viaabs")
		c.ok("cp", src, ctr+":/rel/viarel")
		c.run("cp", src, ctr+":/file")
		checkOutsideUntouched(t, outside, "cp into a container through a symlink")
		// Reads through the links read the container's file.
		dst := t.TempDir()
		c.ok("cp", ctr+":/abs/target", filepath.Join(dst, "a"))
		c.ok("cp", ctr+":/rel/target", filepath.Join(dst, "b"))
		c.ok("cp", ctr+":"+outside+"/viaabs", filepath.Join(dst, "c"))
		if b, _ := os.ReadFile(filepath.Join(dst, "c")); string(b) != "payload\n" {
			t.Errorf("cp through a symlink did not land inside the container: %q", b)
		}
		for _, f := range []string{"a", "b"} {
			if b, _ := os.ReadFile(filepath.Join(dst, f)); string(b) != "inside\n" {
				t.Errorf("cp out through a symlink read %q", b)
			}
		}
		for name, archive := range escapeCases(t, outside) {
			c.runIn(bytes.NewReader(archive), "cp", "-", ctr+":/tmp")
			checkOutsideUntouched(t, outside, "cp - "+name)
		}
		c.ok("rm", "-f", ctr)
	}
}

// TestVolumePersistence: a named volume's data survives its container's
// removal, a berthd restart and a containerd restart.
func TestVolumePersistence(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	v := c.vol("persist")
	payload := strings.Repeat("x", 1000) + rand.Text()
	sum := sha256.Sum256([]byte(payload))
	want := hex.EncodeToString(sum[:])
	c.ok("run", "--rm", "-v", v+":/v", "busybox", "sh", "-c", "printf %s "+payload+" > /v/p")
	ctr := c.name("persist")
	c.ok("run", "-d", "--name", ctr, "-v", v+":/v", "busybox", "sleep", "600")
	check := func(when string) {
		t.Helper()
		got := c.ok("run", "--rm", "-v", v+":/v", "busybox", "sha256sum", "/v/p")
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: checksum %q, want %s", when, got, want)
		}
	}
	check("after container removal")
	s.Restart()
	check("after berthd restart")
	c.fails(1, []string{"volume is in use"}, "volume", "rm", v)
	s.KillContainerd()
	check("after containerd restart")
	c.fails(1, []string{"volume is in use"}, "volume", "rm", v)
	if got := c.ok("exec", ctr, "cat", "/v/p"); got != payload {
		t.Errorf("running container reads %q", got)
	}
	c.ok("rm", "-f", ctr)
	c.ok("volume", "rm", v)
}

// testVolumeDriverOptions: the local driver's tmpfs and bind volumes.
func testVolumeDriverOptions(t *testing.T, c cli) {
	tv := c.vol("tmpfsvol")
	c.ok("volume", "create", "-o", "type=tmpfs", "-o", "o=size=1m", tv)
	if got := c.ok("run", "--rm", "-v", tv+":/t", "busybox", "grep", " /t ", "/proc/mounts"); !strings.HasPrefix(got, "tmpfs /t tmpfs") || !strings.Contains(got, "size=1024k") {
		t.Errorf("tmpfs volume mount: %q", got)
	}
	c.fails(1, []string{"tmpfs"}, "volume", "export", tv)

	dev := t.TempDir()
	bv := c.vol("bindvol")
	c.ok("volume", "create", "-o", "o=bind", "-o", "device="+dev, bv)
	if got := c.ok("volume", "inspect", "-f", "{{.Mountpoint}}", bv); got != dev {
		t.Errorf("bind volume mountpoint: %q", got)
	}
	c.ok("run", "--rm", "-v", bv+":/b", "busybox", "sh", "-c", "echo through > /b/f")
	if b, err := os.ReadFile(filepath.Join(dev, "f")); err != nil || string(b) != "through\n" {
		t.Errorf("bind volume content: %q %v", b, err)
	}
	c.ok("volume", "rm", bv)
	if b, err := os.ReadFile(filepath.Join(dev, "f")); err != nil || string(b) != "through\n" {
		t.Errorf("volume rm touched the bound host directory: %q %v", b, err)
	}
	c.fails(1, []string{"device"}, "volume", "create", "-o", "o=bind", "-o", "device="+filepath.Join(dev, "missing"), c.vol("badbind"))
}
