package commands

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/berthproject/berth/pkg/fsarchive"
	"github.com/berthproject/berth/pkg/types/build"
)

// Build is `berth build` (and `berth image build`, `berth builder build`).
func Build(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Build an image from a Dockerfile",
		UsageText: "berth " + name + " [OPTIONS] PATH|-",
		Description: `Builds with BuildKit, run by berthd (docs/build.md). PATH is the build context,
a directory; - reads a tar of it from stdin. The context is filtered by
.dockerignore (or <Dockerfile>.dockerignore) here, before it is sent.

Examples:
   berth build -t app:1 .
   berth build -f build/Dockerfile --build-arg VERSION=2 --target prod -t app .
   berth build --secret id=token,src=./token.txt -t app .
   berth build -o type=local,dest=out .`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name and optionally a tag (name:tag); repeatable"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Dockerfile (default PATH/Dockerfile; - reads it from stdin)"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "build-time variable NAME=VALUE (NAME alone takes it from the environment); repeatable"},
			&cli.StringFlag{Name: "target", Usage: "build this stage"},
			&cli.BoolFlag{Name: "no-cache", Usage: "do not use the cache"},
			&cli.StringSliceFlag{Name: "no-cache-filter", Usage: "do not use the cache for these stages"},
			&cli.BoolFlag{Name: "pull", Usage: "look for newer versions of the base images in their registries"},
			&cli.StringSliceFlag{Name: "label", Usage: "metadata KEY=VALUE of the image; repeatable"},
			&cli.StringFlag{Name: "network", Usage: "network of the RUN steps: default, host or none"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress output: auto, plain, tty or quiet"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to this file"},
			&cli.StringSliceFlag{Name: "secret", Usage: "secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR; repeatable"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where the result goes: type=image (berth's store, the default; push=true pushes), type=registry (push), type=local,dest=DIR, type=tar,dest=FILE, type=oci|docker,dest=FILE (- for stdout); a bare DIR means type=local"},
			&cli.BoolFlag{Name: "push", Usage: "push the image to the registry of its names (-t) after the build"},
			&cli.StringSliceFlag{Name: "add-host", Usage: "a line of the RUN steps' /etc/hosts: name:ip (ip may be host-gateway); repeatable"},
			&cli.StringFlag{Name: "shm-size", Usage: "size of the RUN steps' /dev/shm (such as 128m; default 64m)"},
			&cli.StringSliceFlag{Name: "ulimit", Usage: "ulimit of the RUN steps: name=soft[:hard]; repeatable"},
			&cli.StringSliceFlag{Name: "ssh", Usage: "SSH agent or keys for RUN --mount=type=ssh: default (the agent of $SSH_AUTH_SOCK) or ID=SOCKET|KEY[,KEY]; repeatable"},
			&cli.StringSliceFlag{Name: "cache-from", Usage: "import build cache: type=registry,ref=NAME (or NAME), type=local,src=DIR; repeatable"},
			&cli.StringSliceFlag{Name: "cache-to", Usage: "export build cache: type=registry,ref=NAME[,mode=max], type=local,dest=DIR[,mode=max], type=inline; repeatable"},
			&cli.StringFlag{Name: "platform", Usage: "target platform (only the host's: " + runtime.GOOS + "/" + runtime.GOARCH + ")"},
		},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			req, err := buildRequest(env, c)
			if err != nil {
				return err
			}
			defer req.cleanup()
			return runBuild(ctx, env, c, cl, req)
		}),
	}
}

// buildReq is a build as the flags describe it.
type buildReq struct {
	opts      build.Options
	context   io.Reader // the context tar
	cleanup   func()
	output    outputSpec
	progress  string
	quiet     bool
	iidfile   string
	ignorePat []string
	kept      *keptWait // nil: the context is not a directory
}

// keptWait hands the builder's list of the files it keeps of the context
// (the answer to Options.ContextSync) to the tar writer.
type keptWait struct {
	once  sync.Once
	ready chan struct{}
	files map[string]build.KeptFile
}

func newKeptWait() *keptWait { return &keptWait{ready: make(chan struct{})} }

func (k *keptWait) set(kept *build.Kept) {
	k.once.Do(func() {
		k.files = make(map[string]build.KeptFile, len(kept.Files))
		for _, f := range kept.Files {
			k.files[f.Path] = f
		}
		close(k.ready)
	})
}

// get waits for the list. A berthd older than ContextSync never sends
// one: after keptWaitMax everything is sent (a list that comes later
// changes nothing, a full tar being always right).
func (k *keptWait) get() map[string]build.KeptFile {
	select {
	case <-k.ready:
		return k.files
	case <-time.After(keptWaitMax):
		return nil
	}
}

const keptWaitMax = 3 * time.Second

type outputSpec struct {
	typ, dest string
	push      bool
}

func buildRequest(env *Env, c *cli.Context) (*buildReq, error) {
	req := &buildReq{cleanup: func() {}, progress: c.String("progress"), quiet: c.Bool("quiet"), iidfile: c.String("iidfile")}
	switch req.progress {
	case "auto", "plain", "tty", "quiet":
	default:
		return nil, usagef(c, "--progress %q: use auto, plain, tty or quiet", req.progress)
	}
	if req.quiet {
		req.progress = "quiet"
	}
	if p := c.String("platform"); p != "" && p != runtime.GOOS+"/"+runtime.GOARCH {
		return nil, fmt.Errorf("--platform %s: berth builds only for this host's platform, %s/%s (no emulator is installed)", p, runtime.GOOS, runtime.GOARCH)
	}
	o := &req.opts
	o.Tags = c.StringSlice("tag")
	for _, t := range o.Tags {
		repo := t
		if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
			repo = t[:i]
		}
		if repo == "" || strings.ContainsAny(t, " \t") || strings.ToLower(repo) != repo {
			return nil, fmt.Errorf("invalid tag %q: a lowercase repository name, then optionally :tag", t)
		}
	}
	o.Target = c.String("target")
	o.NoCache = c.Bool("no-cache")
	o.NoCacheFilter = c.StringSlice("no-cache-filter")
	o.Pull = c.Bool("pull")
	o.Network = c.String("network")
	switch o.Network {
	case "", "default", "host", "none":
	default:
		return nil, fmt.Errorf("--network %q: a build's steps run on default, host or none", o.Network)
	}
	var err error
	if o.BuildArgs, err = buildKeyValues(env, c.StringSlice("build-arg"), "--build-arg", true); err != nil {
		return nil, err
	}
	if o.Labels, err = buildKeyValues(env, c.StringSlice("label"), "--label", false); err != nil {
		return nil, err
	}
	if o.Secrets, err = secrets(env, c.StringSlice("secret")); err != nil {
		return nil, err
	}
	if req.output, err = parseOutput(c.String("output")); err != nil {
		return nil, err
	}
	o.Output = req.output.typ
	o.Push = c.Bool("push") || req.output.push
	if req.output.typ == "image" || req.output.typ == "docker" && req.output.dest == "" {
		// The image goes into berth's store: the default output.
		o.Output, req.output = "", outputSpec{}
	}
	if err := buildRunOptions(c, o); err != nil {
		return nil, err
	}
	if o.SSH, err = sshAgents(env, c.StringSlice("ssh")); err != nil {
		return nil, err
	}
	if o.CacheFrom, err = cacheEntries(c.StringSlice("cache-from"), "--cache-from"); err != nil {
		return nil, err
	}
	if o.CacheTo, err = cacheEntries(c.StringSlice("cache-to"), "--cache-to"); err != nil {
		return nil, err
	}
	if err := checkBuildCombos(o); err != nil {
		return nil, err
	}
	if o.Auth, err = buildAuth(c.Context, env, o); err != nil {
		return nil, err
	}

	ctxArg := c.Args().First()
	file := c.String("file")
	if ctxArg == "-" && file == "-" {
		return nil, errors.New("the context and the Dockerfile cannot both be read from stdin")
	}
	// The Dockerfile.
	switch {
	case file == "-":
		b, err := io.ReadAll(env.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read the Dockerfile from stdin: %w", err)
		}
		o.Dockerfile, o.DockerfileName = b, "Dockerfile"
	case ctxArg == "-" && file == "":
		// Read from the tar below.
	default:
		if file == "" {
			file = filepath.Join(ctxArg, "Dockerfile")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("the Dockerfile %s does not exist: name it with -f", file)
			}
			return nil, fmt.Errorf("read the Dockerfile: %w", err)
		}
		o.Dockerfile, o.DockerfileName = b, filepath.Base(file)
	}

	if ctxArg == "-" {
		return req, contextFromStdin(env, req, file)
	}
	st, err := os.Stat(ctxArg)
	if err != nil {
		return nil, fmt.Errorf("the build context %s: %w", ctxArg, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("the build context %s is not a directory (a tar goes on stdin: berth build - < ctx.tar)", ctxArg)
	}
	abs, _ := filepath.Abs(ctxArg)
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + ":" + abs))
	o.ContextKey = hex.EncodeToString(sum[:16])
	if req.ignorePat, err = readIgnore(abs, file); err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(req.ignorePat)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	// The builder says which files it keeps of this context: those not
	// changed since go without their content.
	o.ContextSync = true
	req.kept = newKeptWait()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarContext(pw, abs, pm, req.kept.get)) }()
	req.context = pr
	req.cleanup = func() { pr.Close() }
	return req, nil
}

// contextFromStdin takes the context as a tar on stdin; without -f its
// Dockerfile is the tar's "Dockerfile" entry.
func contextFromStdin(env *Env, req *buildReq, file string) error {
	if term.IsTerminal(env.Stdin) {
		return errors.New("the build context is read from stdin, but stdin is a terminal: redirect a tar to it")
	}
	if file != "" {
		req.context = env.Stdin
		return nil
	}
	// The tar is read whole to find the Dockerfile in it.
	data, err := io.ReadAll(env.Stdin)
	if err != nil {
		return fmt.Errorf("read the context from stdin: %w", err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return errors.New("the context on stdin has no Dockerfile: add one to the tar or name it with -f")
		}
		if err != nil {
			return fmt.Errorf("the context on stdin is not a tar: %w", err)
		}
		if filepath.Clean(h.Name) == "Dockerfile" {
			if req.opts.Dockerfile, err = io.ReadAll(tr); err != nil {
				return err
			}
			req.opts.DockerfileName = "Dockerfile"
			req.context = bytes.NewReader(data)
			return nil
		}
	}
}

// readIgnore reads <Dockerfile>.dockerignore next to the Dockerfile, else
// the context's .dockerignore.
func readIgnore(ctxDir, dockerfile string) ([]string, error) {
	candidates := []string{}
	if dockerfile != "" && dockerfile != "-" {
		candidates = append(candidates, dockerfile+".dockerignore")
	}
	candidates = append(candidates, filepath.Join(ctxDir, ".dockerignore"))
	for _, p := range candidates {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pats, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return pats, nil
	}
	return nil, nil
}

// tarContext writes the context dir as a tar, leaving out what pm
// excludes. Symlinks are sent as links, never followed; owners are root,
// as Docker sends them.
func tarContext(w io.Writer, dir string, pm *patternmatcher.PatternMatcher, keptFiles func() map[string]build.KeptFile) error {
	tw := tar.NewWriter(w)
	var kept map[string]build.KeptFile
	asked := keptFiles == nil
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pm != nil {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		h.Name = rel
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.Format = tar.FormatPAX
		if info.Mode().IsRegular() && info.Size() >= build.KeptMinSize {
			if !asked {
				kept, asked = keptFiles(), true
			}
			if k, ok := kept[rel]; ok && k == build.KeptFileOf(rel, info) {
				// The builder has it as it is: the header only.
				h.Size = 0
				h.PAXRecords = map[string]string{fsarchive.PAXKept: strconv.FormatInt(info.Size(), 10)}
				return tw.WriteHeader(h)
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the build context: %w", err)
	}
	return tw.Close()
}

// buildKeyValues parses KEY=VALUE flags; with fromEnv a bare KEY takes its
// value from the environment (and is left out when unset), as Docker's
// --build-arg does.
func buildKeyValues(env *Env, list []string, flag string, fromEnv bool) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		if !ok {
			if !fromEnv {
				out[k] = ""
				continue
			}
			if v, ok = env.LookupEnv(k); !ok {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// secrets reads --secret id=ID,src=FILE|env=VAR here: the values travel
// with the build's options and are mounted only where RUN asks for them.
func secrets(env *Env, list []string) (map[string][]byte, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string][]byte{}
	for _, s := range list {
		var id, src, envName string
		for _, f := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				envName = v
			case "type":
				if v != "file" && v != "env" {
					return nil, fmt.Errorf("--secret %q: type is file or env", s)
				}
			default:
				return nil, fmt.Errorf("--secret %q: unknown field %q (id=ID,src=FILE or id=ID,env=VAR)", s, k)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("--secret %q: no id", s)
		}
		switch {
		case src != "":
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("--secret %s: %w", id, err)
			}
			out[id] = b
		default:
			if envName == "" {
				envName = id
			}
			v, ok := env.LookupEnv(envName)
			if !ok {
				return nil, fmt.Errorf("--secret %s: no src file given and $%s is not set", id, envName)
			}
			out[id] = []byte(v)
		}
	}
	return out, nil
}

func parseOutput(s string) (outputSpec, error) {
	if s == "" {
		return outputSpec{}, nil
	}
	if !strings.Contains(s, "=") {
		if s == "-" {
			return outputSpec{typ: "tar", dest: s}, nil
		}
		return outputSpec{typ: "local", dest: s}, nil
	}
	var o outputSpec
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "type":
			o.typ = v
		case "dest":
			o.dest = v
		case "push":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("--output %q: push is true or false", s)
			}
			o.push = b
		default:
			return o, fmt.Errorf("--output %q: unknown field %q (type=image|registry|local|tar|oci|docker,dest=PATH)", s, k)
		}
	}
	switch o.typ {
	case "registry":
		o.typ, o.push = "image", true
		fallthrough
	case "image":
		if o.dest != "" {
			return o, fmt.Errorf("--output %q: type=%s takes no dest: the image goes into berth's store (type=oci or type=docker write an archive)", s, o.typ)
		}
		return o, nil
	case "local", "tar", "oci":
		if o.dest == "" {
			return o, fmt.Errorf("--output %q: no dest", s)
		}
	case "docker":
		// Without dest: loaded into berth's store, as buildx loads it
		// into Docker's.
	case "":
		return o, fmt.Errorf("--output %q: no type (image, registry, local, tar, oci or docker)", s)
	default:
		return o, fmt.Errorf("--output %q: type is image, registry, local, tar, oci or docker", s)
	}
	if o.push {
		return o, fmt.Errorf("--output %q: push=true goes with type=image", s)
	}
	return o, nil
}

// buildRunOptions reads the flags that shape the RUN steps' containers:
// --add-host, --shm-size, --ulimit.
func buildRunOptions(c *cli.Context, o *build.Options) error {
	for _, h := range c.StringSlice("add-host") {
		eh, err := build.ExtraHost(h)
		if err != nil {
			return err
		}
		o.ExtraHosts = append(o.ExtraHosts, eh)
	}
	if v := c.String("shm-size"); v != "" {
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid --shm-size %q: want a size such as 128m or 1g", v)
		}
		o.ShmSize = n
	}
	for _, v := range c.StringSlice("ulimit") {
		u, err := units.ParseUlimit(v)
		if err != nil {
			return fmt.Errorf("invalid --ulimit %q: want name=soft[:hard] (%v)", v, err)
		}
		o.Ulimits = append(o.Ulimits, u.String())
	}
	return nil
}

// sshAgents reads --ssh: default (or ID) alone is the agent of
// $SSH_AUTH_SOCK; ID=PATH[,PATH] names an agent socket or private key
// files. berthd runs on this host: the paths are passed on, checked here
// for the user running the CLI.
func sshAgents(env *Env, list []string) ([]build.SSHAgent, error) {
	var out []build.SSHAgent
	seen := map[string]bool{}
	for _, v := range list {
		id, paths, ok := strings.Cut(v, "=")
		if id == "" {
			return nil, fmt.Errorf("invalid --ssh %q: want default or ID=SOCKET|KEY[,KEY]", v)
		}
		if seen[id] {
			return nil, fmt.Errorf("invalid --ssh %q: the id %s is given twice", v, id)
		}
		seen[id] = true
		a := build.SSHAgent{ID: id}
		if !ok || paths == "" {
			sock, set := env.LookupEnv("SSH_AUTH_SOCK")
			if !set || sock == "" {
				return nil, fmt.Errorf("--ssh %s: $SSH_AUTH_SOCK is not set: start an ssh-agent, or name the agent's socket or a key file (--ssh %s=~/.ssh/id_ed25519)", id, id)
			}
			paths = sock
		}
		for _, p := range strings.Split(paths, ",") {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(abs)
			if err != nil {
				return nil, fmt.Errorf("--ssh %s: %w", id, err)
			}
			if st.Mode().IsRegular() {
				// A key file must be readable by the user, not only by berthd.
				f, err := os.Open(abs)
				if err != nil {
					return nil, fmt.Errorf("--ssh %s: %w", id, err)
				}
				f.Close()
			} else if st.Mode()&fs.ModeSocket == 0 {
				return nil, fmt.Errorf("--ssh %s: %s is neither an agent's socket nor a key file", id, abs)
			}
			a.Paths = append(a.Paths, abs)
		}
		out = append(out, a)
	}
	return out, nil
}

// cacheEntries reads --cache-from and --cache-to: CSV fields as buildx
// takes them; a bare NAME is type=registry,ref=NAME.
func cacheEntries(list []string, flag string) ([]build.CacheEntry, error) {
	var out []build.CacheEntry
	for _, v := range list {
		e := build.CacheEntry{Attrs: map[string]string{}}
		if !strings.Contains(v, "=") {
			e.Type, e.Attrs["ref"] = "registry", v
		} else {
			r := csv.NewReader(strings.NewReader(v))
			fields, err := r.Read()
			if err != nil {
				return nil, fmt.Errorf("invalid %s %q: %v", flag, v, err)
			}
			for _, f := range fields {
				k, val, ok := strings.Cut(f, "=")
				if !ok {
					return nil, fmt.Errorf("invalid %s %q: %q is not key=value", flag, v, f)
				}
				if k == "type" {
					e.Type = val
				} else {
					e.Attrs[k] = val
				}
			}
		}
		need := ""
		switch {
		case e.Type == "registry":
			need = "ref"
		case e.Type == "local" && flag == "--cache-from":
			need = "src"
		case e.Type == "local":
			need = "dest"
		case e.Type == "inline" && flag == "--cache-to":
		case e.Type == "inline":
			return nil, fmt.Errorf("invalid %s %q: inline cache is read from an image with type=registry,ref=NAME", flag, v)
		default:
			return nil, fmt.Errorf("invalid %s %q: berth's builder has the cache types registry, local and inline (--cache-to)", flag, v)
		}
		if need != "" && e.Attrs[need] == "" {
			return nil, fmt.Errorf("invalid %s %q: type=%s needs %s=", flag, v, e.Type, need)
		}
		if e.Type == "local" {
			// berth-buildkitd reads and writes the directory: an
			// absolute path on this host.
			abs, err := filepath.Abs(e.Attrs[need])
			if err != nil {
				return nil, err
			}
			e.Attrs[need] = abs
		}
		if e.Type == "registry" {
			if _, err := reference.ParseNormalizedNamed(e.Attrs["ref"]); err != nil {
				return nil, fmt.Errorf("invalid %s %q: ref: %v", flag, v, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// checkBuildCombos refuses what cannot go together, before anything is
// sent.
func checkBuildCombos(o *build.Options) error {
	if o.Push {
		if o.Output != "" {
			return fmt.Errorf("--push pushes an image: it cannot go with --output type=%s (drop one of them)", o.Output)
		}
		if len(o.Tags) == 0 {
			return errors.New("--push needs a name to push to: add -t REGISTRY/NAME[:TAG]")
		}
	}
	for _, e := range o.CacheTo {
		if e.Type == "inline" && o.Output != "" && o.Output != "docker" && o.Output != "oci" {
			return fmt.Errorf("--cache-to type=inline writes the cache into the image's config: it needs an image, not --output type=%s", o.Output)
		}
	}
	return nil
}

// buildAuth gives the build the stored credentials of the registries it
// pushes to or reads cache from.
func buildAuth(ctx context.Context, env *Env, o *build.Options) (map[string]build.RegistryAuth, error) {
	var refs []string
	if o.Push {
		refs = append(refs, o.Tags...)
	}
	for _, e := range append(append([]build.CacheEntry(nil), o.CacheFrom...), o.CacheTo...) {
		if e.Type == "registry" {
			refs = append(refs, e.Attrs["ref"])
		}
	}
	var out map[string]build.RegistryAuth
	for _, r := range refs {
		a, err := authFor(ctx, env, r)
		if err != nil {
			return nil, err
		}
		if a == nil {
			continue
		}
		if out == nil {
			out = map[string]build.RegistryAuth{}
		}
		out[a.ServerAddress] = build.RegistryAuth{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
	}
	return out, nil
}

func runBuild(ctx context.Context, env *Env, c *cli.Context, cl Client, req *buildReq) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode := req.progress
	if mode == "auto" {
		mode = "plain"
		if f, ok := env.Stderr.(*os.File); ok && term.IsTerminal(f) {
			mode = "tty"
		}
	}
	disp := newBuildDisplay(env.Stderr, mode)
	defer disp.close()

	// Exported files arrive as a tar in the event stream.
	var out io.WriteCloser
	var outDone chan error
	if req.output.typ != "" {
		var err error
		out, outDone, err = openOutput(env, req.output)
		if err != nil {
			return err
		}
		defer out.Close()
	}
	res, err := cl.Builds().Build(ctx, req.opts, req.context, func(ev build.Event) error {
		if ev.Kept != nil {
			if req.kept != nil {
				req.kept.set(ev.Kept)
			}
			return nil
		}
		if len(ev.Output) > 0 && out != nil {
			_, err := out.Write(ev.Output)
			return err
		}
		disp.update(ev)
		return nil
	})
	disp.close()
	if err != nil {
		if ctx.Err() != nil {
			return &ExitError{Code: 130, Err: errors.New("build canceled")}
		}
		return err
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return err
		}
		if err := <-outDone; err != nil {
			return err
		}
		return nil
	}
	if req.iidfile != "" {
		if err := atomicfile.Write(req.iidfile, []byte(res.ImageID), 0o644); err != nil {
			return err
		}
	}
	if req.quiet {
		fmt.Fprintln(env.Stdout, res.ImageID)
	} else if mode != "quiet" {
		disp.done(res)
	}
	return nil
}

// openOutput is where the exported tar goes: a file, stdout, or extracted
// into a directory.
func openOutput(env *Env, o outputSpec) (io.WriteCloser, chan error, error) {
	done := make(chan error, 1)
	if o.typ != "local" { // tar, oci, docker: one archive
		if o.dest == "-" {
			done <- nil
			return nopWriteCloser{env.Stdout}, done, nil
		}
		f, err := os.Create(o.dest)
		if err != nil {
			return nil, nil, err
		}
		done <- nil
		return f, done, nil
	}
	if err := os.MkdirAll(o.dest, 0o755); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(o.dest)
	if err != nil {
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer root.Close()
		err := fsarchive.Untar(pr, root, fsarchive.UntarOptions{})
		pr.CloseWithError(err)
		done <- err
	}()
	return pw, done, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
