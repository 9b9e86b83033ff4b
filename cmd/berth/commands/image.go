package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/berthproject/berth/pkg/types/image"
)

const (
	defaultImagesFormat        = `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`
	defaultImagesDigestsFormat = `table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`
)

// imageRow is what an `images --format` template sees: one name of an image.
type imageRow struct {
	s         image.Summary
	repo, tag string
	digest    string
	trunc     bool
	now       time.Time
}

var imageHeaders = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Labels": "LABELS",
	"Containers": "CONTAINERS",
}

func (r imageRow) Repository() string { return r.repo }
func (r imageRow) Tag() string        { return r.tag }
func (r imageRow) Digest() string     { return r.digest }
func (r imageRow) ID() string {
	if r.trunc {
		return formatter.TruncateID(r.s.ID)
	}
	return r.s.ID
}
func (r imageRow) CreatedSince() string {
	if r.s.Created.IsZero() {
		return "N/A"
	}
	return formatter.Ago(r.s.Created, r.now)
}
func (r imageRow) CreatedAt() string {
	return r.s.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
}
func (r imageRow) Size() string             { return formatter.HumanSize(r.s.Size) }
func (r imageRow) Containers() string       { return "N/A" }
func (r imageRow) Labels() string           { return joinLabels(r.s.Labels) }
func (r imageRow) Label(name string) string { return r.s.Labels[name] }
func (r imageRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"Repository": r.repo, "Tag": r.tag, "ID": r.ID(), "Digest": r.digest, "CreatedSince": r.CreatedSince(),
		"CreatedAt": r.CreatedAt(), "Size": r.Size(), "Containers": r.Containers(), "Labels": r.Labels(),
	})
}

// splitRepoTag splits "registry:5000/app:v1" into repository and tag.
func splitRepoTag(name string) (repo, tag string) {
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	return name, "<none>"
}

// imageRows expands summaries into one row per name, as `docker images`.
func imageRows(list []image.Summary, trunc bool, now time.Time) []any {
	var rows []any
	for _, s := range list {
		digest := "<none>"
		if len(s.RepoDigests) > 0 {
			if _, d, ok := strings.Cut(s.RepoDigests[0], "@"); ok {
				digest = d
			}
		}
		if len(s.RepoTags) == 0 {
			rows = append(rows, imageRow{s: s, repo: "<none>", tag: "<none>", digest: digest, trunc: trunc, now: now})
			continue
		}
		for _, t := range s.RepoTags {
			repo, tag := splitRepoTag(t)
			rows = append(rows, imageRow{s: s, repo: repo, tag: tag, digest: digest, trunc: trunc, now: now})
		}
	}
	return rows
}

// Images is `berth images` (and `berth image ls`).
func Images(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "List images",
		UsageText: "berth " + map[bool]string{true: "images", false: "image ls"}[name == "images"] + " [OPTIONS] [REPOSITORY[:TAG]]",
		Description: `Filters: dangling (true|false), reference (a glob: busybox, 'app:1.*'),
label (key or key=value), before and since (an image).
Format fields: .Repository .Tag .ID .Digest .CreatedSince .CreatedAt .Size .Labels

Examples:
   berth images
   berth images -q busybox
   berth images --filter dangling=true
   berth images --format '{{.Repository}}:{{.Tag}} {{.Size}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all images (berth keeps no intermediate images)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print image IDs"},
			&cli.BoolFlag{Name: "digests", Usage: "show digests"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
			newSliceFlag("filter", "f", "filter output (key=value)"),
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
		},
		Action: withArgs(env, 0, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			if c.NArg() == 1 {
				if filters == nil {
					filters = map[string][]string{}
				}
				filters["reference"] = append(filters["reference"], c.Args().First())
			}
			def := defaultImagesFormat
			if c.Bool("digests") {
				def = defaultImagesDigestsFormat
			}
			f, err := formatter.Parse(c.String("format"), def)
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			list, err := api.List(ctx, image.ListOptions{All: c.Bool("all"), Filters: filters})
			if err != nil {
				return err
			}
			trunc := !c.Bool("no-trunc")
			if c.Bool("quiet") {
				seen := map[string]bool{}
				for _, s := range list {
					id := s.ID
					if trunc {
						id = formatter.TruncateID(id)
					}
					if !seen[id] {
						seen[id] = true
						fmt.Fprintln(env.Stdout, id)
					}
				}
				return nil
			}
			return f.Write(env.Stdout, imageHeaders, imageRows(list, trunc, env.now()))
		}),
	}
}

// Rmi is `berth rmi` (and `berth image rm`).
func Rmi(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Remove one or more images",
		UsageText: "berth " + name + " [OPTIONS] IMAGE [IMAGE...]",
		Description: `Removing a name untags it; removing the last name or the ID deletes the image.
An image that a container uses needs -f.

Examples:
   berth rmi busybox:old
   berth rmi -f 3f57d9401f8d`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove images in use by containers, or tagged in several repositories"}},
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			resp, err := api.Remove(ctx, c.Args().Slice(), image.RemoveOptions{Force: c.Bool("force")})
			for _, r := range resp {
				if r.Untagged != "" {
					fmt.Fprintf(env.Stdout, "Untagged: %s\n", r.Untagged)
				}
				if r.Deleted != "" {
					fmt.Fprintf(env.Stdout, "Deleted: %s\n", r.Deleted)
				}
			}
			if err == nil {
				return nil
			}
			var multi interface{ Unwrap() []error }
			if errors.As(err, &multi) {
				for _, e := range multi.Unwrap() {
					printErr(c, env, e)
				}
				return &ExitError{Code: 1}
			}
			return err
		}),
	}
}

// Tag is `berth tag` (and `berth image tag`).
func Tag(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       "Give an image another name",
		UsageText:   "berth " + name + " SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Description: "Examples:\n   berth tag busybox myapp:v1\n   berth tag 3f57d9401f8d localhost:5000/app:latest",
		Action: withArgs(env, 2, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			return api.Tag(ctx, c.Args().Get(0), c.Args().Get(1))
		}),
	}
}

// ImportImage is `berth import` (and `berth image import`).
func ImportImage(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Create an image from a root file system tarball",
		UsageText: "berth " + name + " [OPTIONS] FILE|- [REPOSITORY[:TAG]]",
		Description: `Reads a tar (plain, gzip or zstd) from FILE, or stdin for -, and prints the
new image's ID.

Examples:
   berth import rootfs.tar myfs:v1
   tar -C rootfs -c . | berth import - myfs`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "history comment for the image"},
			&cli.StringFlag{Name: "platform", Usage: "the image's platform (linux/ARCH; default the engine's)"}},
		Action: withArgs(env, 1, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			r, closeFn, err := openInput(env, c.Args().First())
			if err != nil {
				return err
			}
			defer closeFn()
			img, err := api.Import(ctx, r, image.ImportOptions{Ref: c.Args().Get(1), Message: c.String("message"), Platform: c.String("platform")})
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, img.ID)
			return nil
		}),
	}
}

// Load is `berth load` (and `berth image load`).
func Load(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Load images from a tar archive (docker save or OCI layout)",
		UsageText: "berth " + name + " [OPTIONS]",
		Description: `Reads the archive from stdin, or from the file given with -i.

Examples:
   berth load -i busybox.tar
   berth save app | ssh host berth load`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from a tar archive file instead of stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			in := c.String("input")
			if in == "" {
				if term.IsTerminal(env.Stdin) {
					return &ExitError{Code: 1, Err: errors.New("requested load from stdin, but stdin is a terminal; use -i FILE or redirect stdin")}
				}
				in = "-"
			}
			r, closeFn, err := openInput(env, in)
			if err != nil {
				return err
			}
			defer closeFn()
			progress := func(line string) {
				if !c.Bool("quiet") {
					fmt.Fprintln(env.Stdout, line)
				}
			}
			_, err = api.Load(ctx, r, progress)
			return err
		}),
	}
}

// Save is `berth save` (and `berth image save`).
func Save(env *Env, name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "Save images to a tar archive (readable by docker load and OCI tools)",
		UsageText: "berth " + name + " [OPTIONS] IMAGE [IMAGE...]",
		Description: `Writes to stdout, or to the file given with -o.

Examples:
   berth save -o busybox.tar busybox
   berth save app:v1 app:v2 | gzip > app.tar.gz`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file instead of stdout"}},
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl.Images()
			out := c.String("output")
			if out == "" {
				if term.IsTerminal(env.Stdout) {
					return &ExitError{Code: 1, Err: errors.New("refusing to write an archive to a terminal; use -o FILE or redirect stdout")}
				}
				return api.Save(ctx, env.Stdout, c.Args().Slice())
			}
			return saveToFile(ctx, api, out, c.Args().Slice())
		}),
	}
}

// saveToFile writes the archive next to path and renames it into place, so
// a failed save never leaves a truncated archive under the asked name.
func saveToFile(ctx context.Context, api api.Images, path string, refs []string) error {
	tmp, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer tmp.Abort()
	if err := api.Save(ctx, tmp, refs); err != nil {
		return err
	}
	return tmp.Commit()
}

func openInput(env *Env, name string) (io.Reader, func(), error) {
	if name == "-" {
		return env.Stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// InspectImage is `berth image inspect`.
func InspectImage(env *Env) *cli.Command {
	cmd := Inspect(env)
	cmd.UsageText = "berth image inspect [OPTIONS] IMAGE [IMAGE...]"
	cmd.Usage = "Show the full details of one or more images"
	cmd.Description = "Examples:\n   berth image inspect busybox\n   berth image inspect --format '{{.Config.Cmd}}' busybox"
	cmd.BashComplete = nil
	cmd.Flags = []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template over each image"}}
	cmd.Action = withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
		return inspectAll(ctx, env, c, cl, "image")
	})
	return cmd
}

// ImageCommand is `berth image` with its subcommands.
func ImageCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "image",
		Usage:     "Manage images",
		UsageText: "berth image COMMAND [ARG...]",
		Subcommands: []*cli.Command{
			Images(env, "ls"),
			InspectImage(env),
			ImportImage(env, "import"),
			Load(env, "load"),
			Save(env, "save"),
			Tag(env, "tag"),
			Rmi(env, "rm"),
			Pull(env, "pull"),
			Push(env, "push"),
			History(env, "history"),
			ImagePrune(env),
			Build(env, "build"),
		},
	}
}
