package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/fsarchive"
	"github.com/berthproject/berth/pkg/types/container"
)

// Cp is `berth cp`.
func Cp(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "cp",
		Usage:     "Copy files/folders between a container and the local filesystem",
		UsageText: "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n   berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Description: `Copies between the host and a container, running or stopped, with Docker's
rules: a missing DEST is created as a copy of SRC; an existing directory DEST
receives SRC inside it; SRC ending in "/." copies a directory's contents. "-"
streams a tar archive from stdin or to stdout. Container paths are relative to
its root; symlinks in them resolve inside the container, never outside.

Examples:
   berth cp web:/etc/hostname .
   berth cp ./site/. web:/var/www
   berth cp web:/var/log - > logs.tar`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep owners (uid:gid) of the copied files"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "always follow a symlink in SRC_PATH (in the container: resolved inside its root)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output (berth prints none)"},
		},
		Action: withArgs(env, 2, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			api := cl
			src, dst := c.Args().Get(0), c.Args().Get(1)
			sc, sp := splitCpArg(src)
			dc, dp := splitCpArg(dst)
			switch {
			case sc != "" && dc != "":
				return usagef(c, "copying between containers is not supported")
			case sc == "" && dc == "":
				return usagef(c, "must specify at least one container source")
			case sc != "":
				return copyFromContainer(ctx, env, api, sc, sp, dst, c.Bool("archive"), c.Bool("follow-link"))
			default:
				return copyToContainer(ctx, env, api, src, dc, dp, c.Bool("archive"), c.Bool("follow-link"))
			}
		}),
	}
}

// splitCpArg splits CONTAINER:PATH; a local path (absolute, or with a "/"
// or "." before any ":") has no container.
func splitCpArg(arg string) (ctr, p string) {
	if arg == "-" || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	name, rest, ok := strings.Cut(arg, ":")
	if !ok || strings.Contains(name, "/") {
		return "", arg
	}
	return name, rest
}

func copyToContainer(ctx context.Context, env *Env, api Client, src, ctr, dst string, archive, follow bool) error {
	if dst == "" {
		dst = "/"
	}
	if src == "-" {
		return api.CopyTo(ctx, ctr, container.CopyToOptions{Path: dst, CopyUIDGID: archive}, env.Stdin)
	}
	clean := filepath.Clean(src)
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(clean)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("no such file or directory: %s", src)}
	}
	dir, base := filepath.Split(clean)
	name := base // the name in the archive (a followed link keeps its own)
	if follow {
		if real, err := filepath.EvalSymlinks(clean); err == nil {
			dir, base = filepath.Split(real)
		}
	}
	if dir == "" {
		dir = "."
	}
	if base == "" { // "/"
		base = "."
	}
	if name == "" {
		name = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer root.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(fsarchive.Tar(pw, root, base, name)) }()
	err = api.CopyTo(ctx, ctr, container.CopyToOptions{
		Path: dst, SrcName: name, SrcIsDir: fi.IsDir(),
		SrcContents: fi.IsDir() && (strings.HasSuffix(src, "/.") || src == "."), CopyUIDGID: archive,
	}, pr)
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

// maxLinkHops bounds the symlinks followed for one cp -L, as the kernel's
// ELOOP does.
const maxLinkHops = 40

// copyFromContainer copies a container's path to the host. A symlink SRC is
// copied as a link unless -L is given or SRC ends in "/" (Docker's rule):
// then its target, resolved inside the container's root (never on the
// host), is copied under the link's name.
func copyFromContainer(ctx context.Context, env *Env, api Client, ctr, src, dst string, archive, follow bool) error {
	if src == "" {
		src = "/"
	}
	follow = follow || strings.HasSuffix(src, "/") || strings.HasSuffix(src, "/.")
	name := path.Base(path.Clean("/" + src)) // the name the copy gets
	cur := src
	st, rc, err := api.CopyFrom(ctx, ctr, cur)
	for hops := 0; err == nil && follow && st.Mode&fs.ModeSymlink != 0; hops++ {
		rc.Close()
		if hops == maxLinkHops {
			return &ExitError{Code: 1, Err: fmt.Errorf("too many levels of symbolic links: %s:%s", ctr, src)}
		}
		target := st.LinkTarget
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(path.Clean("/"+cur)), target)
		}
		cur = path.Clean(target)
		st, rc, err = api.CopyFrom(ctx, ctr, cur)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	if dst == "-" {
		if _, err := io.Copy(env.Stdout, rc); err != nil {
			return err
		}
		return nil
	}
	var dstStat *fsarchive.Stat
	if fi, err := os.Stat(dst); err == nil {
		dstStat = &fsarchive.Stat{Name: fi.Name(), Mode: fi.Mode()}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return &ExitError{Code: 1, Err: err}
	}
	srcIsDir := st.Mode.IsDir()
	plan, err := fsarchive.CopyRules(srcIsDir, srcIsDir && (strings.HasSuffix(src, "/.") || src == "."), dst, dstStat)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	root, err := os.OpenRoot(plan.Dir)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer root.Close()
	top := fsarchive.ArchiveTop(cur)
	rootNames := top == "/" // the root's archive: "/", "/file"
	if rootNames {
		top = "."
	}
	if cur != src && plan.Rename == "" && name != "/" {
		plan.Rename = name // a followed link's copy keeps the link's name
	}
	return fsarchive.Untar(rc, root, fsarchive.UntarOptions{Rename: plan.Renamer(top), Chown: archive, RootNames: rootNames})
}

// volumeFlags: -v, --mount, --tmpfs, --volumes-from, --read-only
// (cmd/berth/opts/volumes.go).
func volumeFlags() configFlags {
	return configFlags{flags: opts.VolumeFlags(), apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
		return opts.ApplyVolumes(c, cfg)
	}}
}
