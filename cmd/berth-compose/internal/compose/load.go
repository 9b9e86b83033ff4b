package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	composeerr "github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// projectOptions are docker compose's rules for finding the files, the
// environment and the name of a project: the OS environment wins, then
// --env-file (or the project directory's .env), COMPOSE_FILE, the default
// file names searched upwards from the working directory (compose.yaml,
// docker-compose.yml and their override files), COMPOSE_PROFILES when no
// --profile is given, and -p, COMPOSE_PROJECT_NAME, the files' top-level
// name or the directory's name, in that order.
func (a *app) projectOptions() (*cli.ProjectOptions, error) {
	pwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return cli.NewProjectOptions(a.files,
		cli.WithWorkingDirectory(a.dir),
		cli.WithOsEnv,
		cli.WithEnv([]string{"PWD=" + pwd}),
		cli.WithEnvFiles(a.envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(a.envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(a.profiles...),
		cli.WithName(a.name),
		// As docker compose: env_file is merged into environment after
		// loading and then dropped, so that the config hash is its.
		cli.WithoutEnvironmentResolution,
	)
}

// load reads the project. services, if given, must exist (disabled ones,
// whose profile is not active, are enabled when named, as docker compose
// does for `run` and `up SERVICE`).
func (a *app) load(ctx context.Context, services ...string) (*types.Project, error) {
	opts, err := a.projectOptions()
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, explain(err)
	}
	if p, err = p.WithServicesEnvironmentResolved(true); err != nil {
		return nil, err
	}
	if len(services) > 0 {
		p, err = p.WithServicesEnabled(services...)
		if err != nil {
			return nil, err
		}
	}
	for name, s := range p.Services {
		s.CustomLabels = a.customLabels(p, s.Name)
		p.Services[name] = s
	}
	return p, nil
}

// loadOrName reads the project, or, when there is no compose file, makes an
// empty project from -p (or COMPOSE_PROJECT_NAME) alone: down, ps, logs,
// stop and the other commands on existing containers work by name, as with
// docker compose.
func (a *app) loadOrName(ctx context.Context) (*types.Project, error) {
	p, err := a.load(ctx)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, composeerr.ErrNotFound) || len(a.files) > 0 {
		return nil, err
	}
	name := a.name
	if name == "" {
		name = os.Getenv("COMPOSE_PROJECT_NAME")
	}
	if name == "" {
		return nil, fmt.Errorf("%w\nGive the project's compose file with -f, or its name with -p", err)
	}
	if name != loader.NormalizeProjectName(name) {
		return nil, loader.InvalidProjectNameErr(name)
	}
	wd, _ := os.Getwd()
	return &types.Project{Name: name, WorkingDir: wd, Services: types.Services{}}, nil
}

// customLabels are the labels docker compose puts on every container of a
// project, besides the per-container ones.
func (a *app) customLabels(p *types.Project, service string) types.Labels {
	l := types.Labels{
		labelProject:     p.Name,
		labelService:     service,
		labelVersion:     composeVersion,
		labelWorkingDir:  p.WorkingDir,
		labelConfigFiles: strings.Join(p.ComposeFiles, ","),
		labelOneoff:      "False",
	}
	if len(a.envFiles) > 0 {
		var abs []string
		for _, f := range a.envFiles {
			if af, err := filepath.Abs(f); err == nil {
				abs = append(abs, af)
			}
		}
		l[labelEnvFile] = strings.Join(abs, ",")
	}
	return l
}

// falseSchema is how compose-go's schema check words a field the Compose
// Specification does not have ("services.web.bogus false schema").
var falseSchema = regexp.MustCompile(`(\S+) false schema`)

// explain rewords compose-go's schema errors so that they say what is
// wrong; the rest are compose-go's own (the same as docker compose's).
func explain(err error) error {
	msg := err.Error()
	if !falseSchema.MatchString(msg) {
		return err
	}
	return errors.New(falseSchema.ReplaceAllString(msg, "$1: unknown field: the Compose Specification has no such field (check its spelling and indentation; extensions must start with x-)"))
}
