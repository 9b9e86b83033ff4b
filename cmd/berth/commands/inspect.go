package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/image"
)

// Inspect is `berth inspect`: containers and images.
func Inspect(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "inspect",
		BashComplete: completeContainers(env, true),
		Usage:        "Show the full details of containers or images",
		UsageText:    "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Description: `Prints a JSON array, or each object through --format. A name is looked up
as a container first, then as an image, unless --type says which.

Examples:
   berth inspect web
   berth inspect --format '{{.State.Status}} {{.State.ExitCode}}' web
   berth inspect --type image busybox`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template over each object, or json"},
			&cli.StringFlag{Name: "type", Usage: "container or image"},
		},
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			t := c.String("type")
			if t != "" && t != "container" && t != "image" {
				return &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("unknown --type %q: use container or image", t)}
			}
			return inspectAll(ctx, env, c, cl, t)
		}),
	}
}

func inspectAll(ctx context.Context, env *Env, c *cli.Context, cl Client, kind string) error {
	return inspectEach(c, env, ExitBerthFailed, false, func(name string) (any, error) {
		return inspectOne(ctx, cl, kind, name)
	})
}

// inspectEach is every inspect command: look up each name, print the
// objects found as a JSON array or through --format, then the errors, and
// exit 1 if any name was not found. With jsonOnly the template sees the
// object's JSON document ({{.Id}}, times as in the JSON); otherwise, as
// Docker's `inspect`, the object itself, and its JSON document only for
// fields the object does not have. badFormat is the exit code of a template
// that does not parse.
func inspectEach(c *cli.Context, env *Env, badFormat int, jsonOnly bool, lookup func(name string) (any, error)) error {
	var tf *formatter.Format
	if s := c.String("format"); s != "" {
		var err error
		if tf, err = formatter.Parse(s, ""); err != nil {
			return &ExitError{Code: badFormat, Err: err}
		}
	}
	found := []any{}
	var errs []error
	for _, name := range c.Args().Slice() {
		v, err := lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = append(found, v)
	}
	var werr error
	if tf != nil {
		for _, v := range found {
			var buf bytes.Buffer
			if jsonOnly || tf.Write(&buf, nil, []any{v}) != nil {
				doc, jerr := jsonDocument(v)
				if jerr != nil {
					return jerr
				}
				buf.Reset()
				if err := tf.Write(&buf, nil, []any{doc}); err != nil {
					return &ExitError{Code: ExitBerthFailed, Err: err}
				}
			}
			if _, werr = env.Stdout.Write(buf.Bytes()); werr != nil {
				break
			}
		}
	} else {
		werr = writeJSON(env.Stdout, found)
	}
	if werr != nil {
		return werr
	}
	for _, e := range errs {
		printErr(c, env, e)
	}
	if len(errs) > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

func inspectOne(ctx context.Context, cl Client, kind, name string) (any, error) {
	if kind == "" || kind == "container" {
		ctr, err := cl.Inspect(ctx, name)
		if err == nil {
			// Docker's shape (pkg/docker), so the templates people keep
			// ({{.HostConfig.RestartPolicy.Name}}, {{json .Config.Env}})
			// work; the image's config fills in Cmd, Entrypoint and the rest.
			var imgCfg *image.Config
			if imgs := cl.Images(); imgs != nil && ctr.Image != "" {
				if img, ierr := imgs.Inspect(ctx, ctr.Image); ierr == nil {
					imgCfg = &img.Config
				}
			}
			return containerView{docker.ContainerInspect(ctr, imgCfg)}, nil
		}
		if kind == "container" || !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	imgs := cl.Images()
	if imgs == nil { // a client without images (a test's fake)
		if kind == "" {
			return nil, noSuchObject(name)
		}
		return nil, fmt.Errorf("this berth client cannot manage images: %w", errdefs.ErrNotImplemented)
	}
	img, err := imgs.Inspect(ctx, name)
	if err == nil {
		return docker.ImageInspect(img), nil
	}
	if kind != "" || !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	// As Docker, a name that is no container or image may be a network or
	// a volume.
	if n, err := cl.Networks().Inspect(ctx, name); err == nil {
		return networkViewOf(n), nil
	}
	if v, err := cl.Volumes().Inspect(ctx, name); err == nil {
		return volumeViewOf(v), nil
	}
	return nil, noSuchObject(name)
}

// noSuchObject is Docker's message for a name that is neither a container
// nor an image; it is errdefs.ErrNotFound for errors.Is.
type noSuchObject string

func (n noSuchObject) Error() string { return "No such object: " + string(n) }
func (n noSuchObject) Unwrap() error { return errdefs.ErrNotFound }

// dockerCLIVersion is the API version whose shape berth inspect prints: the
// last one with NetworkSettings.IPAddress and the other top-level network
// fields that scripts read ({{.NetworkSettings.IPAddress}}), as docker 28.
const dockerCLIVersion = "1.51"

// containerView is a container as `docker inspect` shows it: templates see
// the Docker struct's fields; JSON (and a template over a field only that
// version's JSON has) comes from the versioned document.
type containerView struct{ dcontainer.InspectResponse }

func (v containerView) MarshalJSON() ([]byte, error) {
	return json.Marshal(docker.VersionedContainer(v.InspectResponse, dockerCLIVersion))
}
