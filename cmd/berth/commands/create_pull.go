package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
)

// pullFlag is run/create's --pull, as Docker's.
func pullFlag() cli.Flag {
	return &cli.StringFlag{Name: "pull", Value: "missing", Usage: "pull the image before creating: missing, always or never"}
}

// createPulling creates the container, pulling its image first as --pull
// says (default: only when it is missing, as Docker does). Pull progress
// goes to stderr, so a container's output on stdout stays clean.
func createPulling(ctx context.Context, c *cli.Context, env *Env, cl Client, cfg container.Config) (string, []string, error) {
	policy := c.String("pull")
	switch policy {
	case "", "missing", "always", "never":
	default:
		return "", nil, &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("invalid --pull %q: use missing, always or never", policy)}
	}
	quiet, platform := c.Bool("quiet"), c.String("platform")
	cfg.Platform = platform
	if policy == "always" {
		if err := pullForRun(ctx, env, cl, cfg.Image, platform, quiet); err != nil {
			return "", nil, err
		}
	}
	id, warnings, err := cl.Create(ctx, cfg)
	if err == nil || policy != "missing" || !isNoSuchImage(err) || looksLikeID(cfg.Image) {
		return id, warnings, err
	}
	if cl.Images() == nil {
		return id, warnings, err // a client without images (a test's fake) reports the missing image
	}
	if !quiet {
		fmt.Fprintf(env.Stderr, "Unable to find image '%s' locally\n", cfg.Image)
	}
	if perr := pullForRun(ctx, env, cl, cfg.Image, platform, quiet); perr != nil {
		// Say both: the image is not here, and why it could not be pulled.
		return "", nil, fmt.Errorf("%w; pulling it failed: %v", err, perr)
	}
	return cl.Create(ctx, cfg)
}

func pullForRun(ctx context.Context, env *Env, cl Client, ref, platform string, quiet bool) error {
	api := cl.Images()
	auth, err := authFor(ctx, env, ref)
	if err != nil {
		return err
	}
	errEnv := *env
	errEnv.Stdout = env.Stderr
	if _, err := api.Pull(ctx, ref, image.PullOptions{Auth: auth, Platform: platform, Progress: progressPrinter(&errEnv, quiet)}); err != nil {
		return remoteErr(err, refHost(ref))
	}
	return nil
}

// isNoSuchImage: berthd said the image is not here (a typed reason, not
// any not-found: a missing network must not start a pull).
func isNoSuchImage(err error) bool {
	var nf *image.NotFoundError
	return errors.As(err, &nf)
}

// looksLikeID: an image ID or ID prefix is never pulled.
func looksLikeID(ref string) bool {
	ref = strings.TrimPrefix(ref, "sha256:")
	if len(ref) < 12 {
		return false
	}
	for _, r := range ref {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
