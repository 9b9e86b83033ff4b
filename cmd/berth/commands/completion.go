package commands

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// Completion is `berth completion bash|zsh`.
func Completion(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "Print a shell completion script (bash or zsh)",
		UsageText: "berth completion bash|zsh",
		Description: `The script completes commands, flags, and container names.

Examples:
   source <(berth completion bash)
   berth completion bash > /etc/bash_completion.d/berth
   berth completion zsh > "${fpath[1]}/_berth"`,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(env.Stdout, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(env.Stdout, zshCompletion)
				return err
			}
			return usagef(c, "supports bash and zsh, not %q", c.Args().First())
		},
	}
}

// completeContainers lists container names (and, after a "-", the flags)
// for shell completion; all includes stopped containers.
func completeContainers(env *Env, all bool) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		if args := c.Args().Slice(); len(args) > 0 && strings.HasPrefix(args[len(args)-1], "-") {
			cli.DefaultCompleteWithFlags(c.Command)(c)
			return
		}
		cl, err := env.dial(c)
		if err != nil {
			return
		}
		defer cl.Close()
		list, err := cl.List(c.Context, container.ListOptions{All: all})
		if err != nil {
			return
		}
		for _, s := range list {
			for _, n := range s.Names {
				fmt.Fprintln(env.Stdout, strings.TrimPrefix(n, "/"))
			}
		}
	}
}

const bashCompletion = `# bash completion for berth; load with: source <(berth completion bash)
_berth_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:$COMP_CWORD}")
  if [[ "$cur" == "-"* ]]; then
    COMPREPLY=( $(compgen -W "$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur") )
  fi
  return 0
}
complete -o bashdefault -o default -F _berth_complete berth
`

const zshCompletion = `#compdef berth
# zsh completion for berth; install with: berth completion zsh > "${fpath[1]}/_berth"
_berth() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  opts=(${opts:#})
  if (( ${#opts} )); then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" == "_berth" ]]; then
  _berth "$@"
else
  compdef _berth berth
fi
`
