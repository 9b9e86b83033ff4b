package commands

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// UI is `berth ui`: the web dashboard's login address (docs/dashboard.md).
// berthd writes it to <state>/ui.url while it serves the dashboard; the
// file is readable by root and the socket's group, who may use berthd.
func UI(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ui",
		Usage:     "Print the web dashboard's login address (with its token)",
		UsageText: "berth ui [OPTIONS]",
		Description: `berthd serves the dashboard when started with --ui 127.0.0.1:PORT (or ui = "127.0.0.1:PORT"
   in berthd.toml). The address carries a login token: opening it sets a session cookie.

Examples:
   berth ui
   berth ui --open`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "open", Usage: "open the address in the desktop's browser (xdg-open)"}},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			info, err := cl.Info(ctx)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(filepath.Join(info.StateDir, "ui.url"))
			if errors.Is(err, fs.ErrNotExist) {
				return errors.New("the dashboard is off: start berthd with --ui 127.0.0.1:7070 (or set ui = \"127.0.0.1:7070\" in /etc/berth/berthd.toml)")
			}
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("cannot read the dashboard's address (%w): run as root or as a member of berthd's socket group", err)
			}
			if err != nil {
				return err
			}
			url := strings.TrimSpace(string(data))
			fmt.Fprintln(env.Stdout, url)
			if c.Bool("open") {
				if err := exec.Command("xdg-open", url).Start(); err != nil {
					return fmt.Errorf("cannot open a browser (%w): open the address above yourself", err)
				}
			}
			return nil
		}),
	}
}
