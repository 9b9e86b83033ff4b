package compose

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// buildFields are the build: keys `berth build` takes (check.go refuses
// the others by name).
var buildFields = []string{"build.context", "build.dockerfile", "build.dockerfile_inline", "build.args",
	"build.labels", "build.no_cache", "build.no_cache_filter", "build.pull", "build.network", "build.target",
	"build.secrets.source", "build.secrets.target", "build.tags", "build.platforms"}

// buildOptions are compose build's flags that reach every service's build.
type buildOptions struct {
	noCache bool
	pull    bool
	quiet   bool
	args    []string // --build-arg NAME[=VALUE]
}

// buildArgs is the `berth build` command line that builds service s's
// image, and the Dockerfile to feed on stdin (dockerfile_inline).
func buildArgs(p *types.Project, s types.ServiceConfig, o buildOptions) (args []string, stdin string, err error) {
	b := s.Build
	bad := func(format string, a ...any) ([]string, string, error) {
		return nil, "", fmt.Errorf("service %q: build: %s", s.Name, fmt.Sprintf(format, a...))
	}
	args = []string{"build", "-t", serviceImage(p, s), "--progress", "plain"}
	if o.quiet {
		args = append(args, "-q")
	}
	for _, t := range b.Tags {
		args = append(args, "-t", t)
	}
	switch {
	case b.DockerfileInline != "":
		args, stdin = append(args, "-f", "-"), b.DockerfileInline
	case b.Dockerfile != "":
		df := b.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context, df)
		}
		args = append(args, "-f", df)
	}
	var buildArgs []string
	for k, v := range b.Args {
		if v == nil {
			buildArgs = append(buildArgs, k) // from the environment, as docker
			continue
		}
		buildArgs = append(buildArgs, k+"="+*v)
	}
	sort.Strings(buildArgs)
	for _, a := range append(buildArgs, o.args...) {
		args = append(args, "--build-arg", a)
	}
	labels := make([]string, 0, len(b.Labels))
	for k, v := range b.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	if b.Target != "" {
		args = append(args, "--target", b.Target)
	}
	if b.Network != "" {
		args = append(args, "--network", b.Network)
	}
	if b.NoCache || o.noCache {
		args = append(args, "--no-cache")
	}
	for _, f := range b.NoCacheFilter {
		args = append(args, "--no-cache-filter", f)
	}
	if b.Pull || o.pull {
		args = append(args, "--pull")
	}
	for _, sec := range b.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok {
			return bad("secrets: undefined secret %s", sec.Source)
		}
		if def.File == "" {
			return bad("secrets: secret %q: only file-based secrets are supported", sec.Source)
		}
		id := sec.Target
		if id == "" {
			id = sec.Source
		}
		args = append(args, "--secret", "id="+id+",src="+def.File)
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	for _, pl := range b.Platforms {
		if pl != host {
			return bad("platforms: %s differs from this host's %s", pl, host)
		}
	}
	if s.Platform != "" {
		args = append(args, "--platform", s.Platform)
	}
	return append(args, b.Context), stdin, nil
}

// buildServices builds the images of the named services that have a
// build section, one after another, with `berth build`.
func (a *app) buildServices(ctx context.Context, p *types.Project, services []string, o buildOptions, out io.Writer) error {
	for _, svc := range services {
		s := p.Services[svc]
		if s.Build == nil {
			continue
		}
		args, stdin, err := buildArgs(p, s, o)
		if err != nil {
			return err
		}
		if !a.hasBuilder() {
			return errNoBuilder(svc, serviceImage(p, s))
		}
		var in io.Reader
		if stdin != "" {
			in = strings.NewReader(stdin)
		}
		if code := a.berthIn(ctx, in, out, args...); code != 0 {
			return &exitError{code: 1, err: fmt.Errorf("service %q: failed to build %s", svc, serviceImage(p, s))}
		}
	}
	return nil
}
