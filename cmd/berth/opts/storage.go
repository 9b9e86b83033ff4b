package opts

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// StorageFlags are run/create's flags for the container's writable layer.
func StorageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "storage-opt", Usage: "option of the container's writable layer: size=10M limits it (berth's snapshotter, on a file system with project quotas; refused where it cannot be enforced)"},
	}
}

// ApplyStorage sets Config.StorageOpt from --storage-opt key=value.
func ApplyStorage(c *cli.Context, cfg *container.Config) error {
	for _, kv := range c.StringSlice("storage-opt") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid --storage-opt %q: use key=value, e.g. size=10M", kv)
		}
		if cfg.StorageOpt == nil {
			cfg.StorageOpt = map[string]string{}
		}
		cfg.StorageOpt[k] = v
	}
	return nil
}
