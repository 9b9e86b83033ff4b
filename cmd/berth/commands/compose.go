package commands

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// ComposeBinary is the program `berth compose` runs: Compose lives in a
// binary of its own so that this CLI does not link compose-go
// (docs/compose.md).
const ComposeBinary = "berth-compose"

// composeLibexec is where `make install` puts berth-compose, relative to
// the directory of the berth binary (PREFIX/bin → PREFIX/lib/berth), then
// the default install location.
var composeLibexec = []string{"../lib/berth", "/usr/local/lib/berth"}

// Compose is `berth compose ...`: it replaces this process with
// berth-compose (found next to berth, in berth's libexec directory, or on
// $PATH), as docker does with its compose plugin, passing --host on.
func Compose(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "compose",
		Usage:     "Define and run multi-container applications (berth-compose)",
		UsageText: "berth compose [OPTIONS] COMMAND",
		Description: `Runs berth-compose, berth's implementation of the Compose Specification
(docker compose's commands and flags), against the same berthd.

Examples:
   berth compose up -d
   berth compose -f compose.yaml -p shop ps
   berth compose down -v`,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			bin, err := findCompose()
			if err == nil && env.Exec == nil {
				err = errors.New("berth compose: this build of berth cannot run other programs")
			}
			if err != nil {
				if a := c.Args().First(); a == "" || a == "-h" || a == "--help" {
					// Help works without berth-compose; it says what is missing.
					_ = cli.ShowSubcommandHelp(c)
					fmt.Fprintf(env.Stdout, "\n%v\n", err)
					return nil
				}
				return &ExitError{Code: 1, Err: err}
			}
			args := append([]string{bin, "--host", c.String("host")}, c.Args().Slice()...)
			if err := env.Exec(bin, args, os.Environ()); err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("run %s: %w", bin, err)}
			}
			return nil
		},
	}
}

func findCompose() (string, error) {
	var tried []string
	if self, err := os.Executable(); err == nil {
		dir := filepath.Dir(self)
		cands := []string{filepath.Join(dir, ComposeBinary)}
		for _, l := range composeLibexec {
			if !filepath.IsAbs(l) {
				l = filepath.Join(dir, l)
			}
			cands = append(cands, filepath.Join(l, ComposeBinary))
		}
		for _, p := range cands {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
			tried = append(tried, filepath.Clean(p))
		}
	}
	p, err := exec.LookPath(ComposeBinary)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, exec.ErrNotFound) {
		return "", err
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("berth compose is not installed: %s was not found (looked in %v).\nInstall it with `make install` in a berth checkout", ComposeBinary, tried)
}

// Stack is `berth stack ...` (docker stack: deploy, ls, ps, rm): Compose
// files as cluster services, run by berth-compose (which links
// compose-go) as `berth-compose stack ...`.
func Stack(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "stack",
		Usage:     "Manage stacks of services on a cluster (berth-compose)",
		UsageText: "berth stack deploy -c FILE STACK | ls | ps STACK | rm STACK",
		Description: `Deploys a Compose file's services as cluster services (docker stack's
commands), through berth-compose against the same berthd.

Examples:
   berth stack deploy -c compose.yaml shop
   berth stack ps shop
   berth stack rm shop`,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			bin, err := findCompose()
			if err == nil && env.Exec == nil {
				err = errors.New("berth stack: this build of berth cannot run other programs")
			}
			if err != nil {
				if a := c.Args().First(); a == "" || a == "-h" || a == "--help" {
					_ = cli.ShowSubcommandHelp(c)
					fmt.Fprintf(env.Stdout, "\n%v\n", err)
					return nil
				}
				return &ExitError{Code: 1, Err: err}
			}
			args := append([]string{bin, "--host", c.String("host"), "stack"}, c.Args().Slice()...)
			if err := env.Exec(bin, args, os.Environ()); err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("run %s: %w", bin, err)}
			}
			return nil
		},
	}
}
