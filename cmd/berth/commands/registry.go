package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/credentials"
	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/internal/progress"
	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/image"
)

// credStore is the user's Docker config file ($DOCKER_CONFIG/config.json
// or ~/.docker/config.json).
func credStore(env *Env) *credentials.Store {
	if d, ok := env.lookupEnv("DOCKER_CONFIG"); ok && d != "" {
		return &credentials.Store{Path: filepath.Join(d, "config.json")}
	}
	return &credentials.Store{Path: credentials.DefaultPath()}
}

// authFor reads the stored credentials for the registry of ref (nil when
// there are none).
func authFor(ctx context.Context, env *Env, ref string) (*image.AuthConfig, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid reference format %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	host := reference.Domain(named)
	a, ok, err := credStore(env).Get(ctx, host)
	if err != nil || !ok {
		return nil, err
	}
	return &image.AuthConfig{ServerAddress: host, Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}, nil
}

// registryUnavailable marks an Unavailable error about a registry (berthd
// answered; the registry did not), so that no berthd hint is printed.
type registryUnavailable struct{ err error }

func (e *registryUnavailable) Error() string { return e.err.Error() }
func (e *registryUnavailable) Unwrap() error { return e.err }

// remoteErr marks err as the registry's when berthd says (a typed reason)
// that the registry, not berthd, is unreachable.
func remoteErr(err error, _ string) error {
	var ru *image.RegistryUnreachableError
	if errors.As(err, &ru) {
		return &registryUnavailable{err}
	}
	return err
}

// refHost is the registry host of ref ("" when it does not parse).
func refHost(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return reference.Domain(named)
}

// progressPrinter draws progress to env.Stdout: in place on a terminal,
// plain lines otherwise; quiet prints nothing.
func progressPrinter(env *Env, quiet bool) image.ProgressFunc {
	if quiet {
		return nil
	}
	tty := term.IsTerminal(env.Stdout)
	width := 0
	if sz, ok := term.GetSize(env.Stdout); ok {
		width = int(sz.Width)
	}
	r := progress.New(env.Stdout, tty, width)
	return func(p image.Progress) {
		r.Update(progress.Event{ID: p.ID, Status: p.Status, Current: p.Current, Total: p.Total, Message: p.Message})
	}
}

// Pull is `berth pull` (and `berth image pull`).
func Pull(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Download an image from a registry",
		UsageText: "berth " + name + " [OPTIONS] NAME[:TAG|@DIGEST]",
		Description: `Credentials come from the Docker config file (berth login).

Examples:
   berth pull 127.0.0.1:5000/app:v1
   berth pull --platform linux/arm64 registry.example/app`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "platform", Usage: "pull this platform of a multi-platform image (os/arch[/variant])"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image name"},
			&cli.BoolFlag{Name: "all-tags", Aliases: []string{"a"}, Usage: "not supported", Hidden: true},
		},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			if c.Bool("all-tags") {
				return &ExitError{Code: 1, Err: errors.New("--all-tags is not supported")}
			}
			api := cl.Images()
			ref := c.Args().First()
			auth, err := authFor(ctx, env, ref)
			if err != nil {
				return err
			}
			_, err = api.Pull(ctx, ref, image.PullOptions{Platform: c.String("platform"), Auth: auth, Progress: progressPrinter(env, c.Bool("quiet"))})
			if err != nil {
				return remoteErr(err, refHost(ref))
			}
			if full, err := image.NormalizeName(ref); err == nil {
				fmt.Fprintln(env.Stdout, full)
			}
			return nil
		}),
	}
}

// Push is `berth push` (and `berth image push`).
func Push(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Upload an image to a registry",
		UsageText: "berth " + name + " [OPTIONS] NAME[:TAG]",
		Description: `Examples:
   berth tag busybox 127.0.0.1:5000/busybox:v1
   berth push 127.0.0.1:5000/busybox:v1`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"}},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			ref := c.Args().First()
			auth, err := authFor(ctx, env, ref)
			if err != nil {
				return err
			}
			_, err = api.Push(ctx, ref, image.PushOptions{Auth: auth, Progress: progressPrinter(env, c.Bool("quiet"))})
			return remoteErr(err, refHost(ref))
		}),
	}
}

// Login is `berth login`.
func Login(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "Log in to a registry",
		UsageText: "berth login [OPTIONS] [SERVER]",
		Description: `berthd checks the credentials with the registry; they are stored in the
Docker config file (~/.docker/config.json, or $DOCKER_CONFIG/config.json), in
its credential helper when it names one (credsStore, credHelpers).

Examples:
   berth login -u alice 127.0.0.1:5000
   echo "$PASSWORD" | berth login -u alice --password-stdin 127.0.0.1:5000`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (visible to other users: prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
		},
		Action: withArgs(env, 0, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			server := c.Args().First()
			if server == "" {
				server = "docker.io"
			}
			user, pass := c.String("username"), c.String("password")
			if c.Bool("password-stdin") {
				if pass != "" {
					return usagef(c, "--password and --password-stdin are mutually exclusive")
				}
				if user == "" {
					return usagef(c, "needs --username with --password-stdin")
				}
				b, err := io.ReadAll(io.LimitReader(env.Stdin, 1<<20))
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" || pass == "" {
				if !term.IsTerminal(env.Stdin) {
					return &ExitError{Code: 1, Err: errors.New("login needs --username and a password (--password-stdin) when stdin is not a terminal")}
				}
				var err error
				if user, pass, err = prompt(env, user); err != nil {
					return err
				}
			}
			key := credentials.Key(server)
			host := key
			if key == credentials.DockerHubKey {
				host = "docker.io"
			}
			st, err := api.Login(ctx, image.AuthConfig{ServerAddress: host, Username: user, Password: pass})
			if err != nil {
				return remoteErr(err, host)
			}
			if err := credStore(env).Save(ctx, credentials.Auth{ServerAddress: key, Username: user, Password: pass}); err != nil {
				return fmt.Errorf("storing credentials: %w", err)
			}
			fmt.Fprintln(env.Stdout, st)
			return nil
		}),
	}
}

// prompt asks for a user name (if none) and a password on the terminal,
// without echoing the password.
func prompt(env *Env, user string) (string, string, error) {
	in := bufio.NewReader(env.Stdin)
	if user == "" {
		fmt.Fprint(env.Stdout, "Username: ")
		line, err := in.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		user = strings.TrimSpace(line)
	}
	fmt.Fprint(env.Stdout, "Password: ")
	restore, err := term.MakeRaw(env.Stdin)
	if err != nil {
		return "", "", err
	}
	var pw []byte
	buf := make([]byte, 1)
	for {
		n, err := env.Stdin.Read(buf)
		if n == 0 || err != nil || buf[0] == '\r' || buf[0] == '\n' {
			break
		}
		if buf[0] == 3 { // ^C
			restore()
			return "", "", errors.New("interrupted")
		}
		pw = append(pw, buf[0])
	}
	restore()
	fmt.Fprintln(env.Stdout)
	return user, string(pw), nil
}

// Logout is `berth logout`.
func Logout(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "Log out from a registry",
		UsageText: "berth logout [SERVER]",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			server := c.Args().First()
			key := credentials.Key(server)
			found, err := credStore(env).Erase(c.Context, key)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(env.Stdout, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(env.Stdout, "Removing login credentials for %s\n", key)
			return nil
		},
	}
}

const defaultHistoryFormat = `table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}`

var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

type historyRow struct {
	e     image.HistoryEntry
	trunc bool
	human bool
	env   *Env
}

func (r historyRow) ID() string {
	if r.trunc && r.e.ID != "<missing>" {
		return formatter.TruncateID(r.e.ID)
	}
	return r.e.ID
}
func (r historyRow) CreatedSince() string {
	if r.e.Created.IsZero() {
		return "N/A"
	}
	return formatter.Ago(r.e.Created, r.env.now())
}
func (r historyRow) CreatedAt() string {
	return r.e.Created.Local().Format("2006-01-02T15:04:05-07:00")
}
func (r historyRow) CreatedBy() string {
	if r.trunc && len(r.e.CreatedBy) > 45 {
		return r.e.CreatedBy[:44] + "…"
	}
	return r.e.CreatedBy
}
func (r historyRow) Size() string {
	if r.human {
		return formatter.HumanSize(r.e.Size)
	}
	return fmt.Sprint(r.e.Size)
}
func (r historyRow) Comment() string { return r.e.Comment }
func (r historyRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{"ID": r.ID(), "CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(),
		"CreatedBy": r.CreatedBy(), "Size": r.Size(), "Comment": r.Comment()})
}

// History is `berth history` (and `berth image history`).
func History(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Show the history of an image",
		UsageText: "berth " + name + " [OPTIONS] IMAGE",
		Description: `Format fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment

Examples:
   berth history busybox
   berth history --no-trunc --format '{{.CreatedBy}}' app`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "human", Aliases: []string{"H"}, Value: true, Usage: "print sizes and dates in human readable form"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print image IDs"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
		},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			f, err := formatter.Parse(c.String("format"), defaultHistoryFormat)
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			es, err := api.History(ctx, c.Args().First())
			if err != nil {
				return err
			}
			rows := make([]any, 0, len(es))
			for _, e := range es {
				r := historyRow{e: e, trunc: !c.Bool("no-trunc"), human: c.Bool("human"), env: env}
				if c.Bool("quiet") {
					fmt.Fprintln(env.Stdout, r.ID())
					continue
				}
				rows = append(rows, r)
			}
			if c.Bool("quiet") {
				return nil
			}
			return f.Write(env.Stdout, historyHeaders, rows)
		}),
	}
}

// ImagePrune is `berth image prune`.
func ImagePrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove unused images",
		UsageText: "berth image prune [OPTIONS]",
		Description: `Removes dangling images; with -a, every image no container uses.
Filters (repeatable; all keys must match): dangling=true|false (false: as -a),
until=TIME (created before TIME: a timestamp or a duration before now, 24h),
label=KEY[=VALUE], label!=KEY[=VALUE].

Examples:
   berth image prune -f
   berth image prune -a -f --filter until=24h --filter label!=keep`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only images matching (dangling=BOOL, until=TIME, label=KEY[=VALUE], label!=KEY[=VALUE])"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			for i, v := range filters["until"] {
				t, err := opts.Timestamp(v, time.Now())
				if err != nil {
					return &ExitError{Code: 1, Err: fmt.Errorf("invalid until filter: %w", err)}
				}
				filters["until"][i] = t.UTC().Format(time.RFC3339Nano)
			}
			if !c.Bool("force") {
				what := "all dangling images"
				if c.Bool("all") {
					what = "all images without at least one container associated to them"
				}
				fmt.Fprintf(env.Stdout, "WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what)
				line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return nil
				}
			}
			rep, err := api.Prune(ctx, image.PruneOptions{All: c.Bool("all"), Filters: filters})
			if rep != nil && len(rep.Deleted) > 0 {
				fmt.Fprintln(env.Stdout, "Deleted Images:")
				for _, d := range rep.Deleted {
					if d.Untagged != "" {
						fmt.Fprintf(env.Stdout, "untagged: %s\n", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintf(env.Stdout, "deleted: %s\n", d.Deleted)
					}
				}
				fmt.Fprintln(env.Stdout)
			}
			if rep != nil {
				fmt.Fprintf(env.Stdout, "Total reclaimed space: %s\n", formatter.HumanSize(rep.SpaceReclaimed))
			}
			return err
		}),
	}
}
