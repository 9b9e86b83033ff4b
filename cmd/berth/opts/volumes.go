package opts

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

// VolumeFlags are the storage flags of `run` and `create`. Apply them with
// ApplyVolumes.
func VolumeFlags() []cli.Flag {
	return []cli.Flag{
		repeatable{&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "mount a volume or a host directory: NAME:/path[:ro], /host/path:/path[:ro], or /path (an anonymous volume)"}},
		&cli.StringSliceFlag{Name: "mount", Usage: "mount with Docker's keys: type=volume|bind|tmpfs|image,source=…,target=…[,readonly][,volume-nocopy][,volume-subpath=…][,image-subpath=…][,bind-propagation=…][,tmpfs-size=…][,tmpfs-mode=…]"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs: /path[:options] (e.g. /run:size=64m)"},
		&cli.StringSliceFlag{Name: "volumes-from", Usage: "mount the volumes of another container: CONTAINER[:ro|:rw]"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root file system read-only"},
	}
}

// ApplyVolumes puts the values of VolumeFlags into cfg.
func ApplyVolumes(c *cli.Context, cfg *container.Config) error {
	for _, v := range c.StringSlice("volume") {
		if _, err := container.ParseBind(v); err != nil {
			return err
		}
		cfg.Binds = append(cfg.Binds, v)
	}
	for _, v := range c.StringSlice("mount") {
		m, err := ParseMount(v)
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	for _, v := range c.StringSlice("tmpfs") {
		dst, o, _ := strings.Cut(v, ":")
		if !strings.HasPrefix(dst, "/") {
			return fmt.Errorf("invalid --tmpfs %q: the path must be absolute", v)
		}
		if cfg.Tmpfs == nil {
			cfg.Tmpfs = map[string]string{}
		}
		cfg.Tmpfs[dst] = o
	}
	cfg.VolumesFrom = c.StringSlice("volumes-from")
	cfg.ReadonlyRootfs = c.Bool("read-only")
	return nil
}

// ParseMount parses a --mount value (comma-separated key=value, Docker's
// keys and aliases).
func ParseMount(v string) (container.MountSpec, error) {
	m := container.MountSpec{Type: "volume"}
	bad := func(format string, a ...any) (container.MountSpec, error) {
		return container.MountSpec{}, fmt.Errorf("invalid --mount %q: %s", v, fmt.Sprintf(format, a...))
	}
	boolVal := func(key, val string, has bool) (bool, error) {
		if !has {
			return true, nil
		}
		switch strings.ToLower(val) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return false, fmt.Errorf("invalid --mount %q: %s takes true or false", v, key)
	}
	subpathOf := "" // the type whose subpath key was given
	for _, field := range strings.Split(v, ",") {
		if field == "" {
			continue
		}
		key, val, has := strings.Cut(field, "=")
		var err error
		switch strings.ToLower(key) {
		case "type":
			m.Type = val
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			m.ReadOnly, err = boolVal(key, val, has)
		case "volume-nocopy":
			m.VolumeNoCopy, err = boolVal(key, val, has)
		case "volume-subpath", "image-subpath":
			subpathOf = strings.TrimSuffix(strings.ToLower(key), "-subpath")
			m.Subpath = val
		case "bind-propagation":
			m.BindPropagation = val
		case "tmpfs-size":
			var n int64
			if n, err = tmpfsSize(val); err != nil {
				return bad("tmpfs-size: %v", err)
			}
			m.TmpfsSize = n
		case "tmpfs-mode":
			n, perr := strconv.ParseUint(val, 8, 32)
			if perr != nil {
				return bad("tmpfs-mode must be octal, e.g. 1770")
			}
			m.TmpfsMode = uint32(n)
		case "bind-recursive": // Docker's keys
			switch val {
			case "enabled":
			case "disabled":
				m.BindNonRecursive = true
			case "writable":
				m.BindReadOnlyNonRecursive = true
			case "readonly":
				m.BindReadOnlyForceRecursive = true
			default:
				return bad("bind-recursive must be enabled, disabled, writable or readonly")
			}
		case "bind-nonrecursive": // deprecated in Docker for bind-recursive=disabled
			m.BindNonRecursive, err = boolVal(key, val, has)
		case "consistency":
			// macOS-only in Docker: accepted, no effect.
		default:
			return bad("unknown key %q", key)
		}
		if err != nil {
			return container.MountSpec{}, err
		}
	}
	switch m.Type {
	case "volume", "bind", "tmpfs", "image":
	default:
		return bad("type must be volume, bind, tmpfs or image")
	}
	if subpathOf != "" && subpathOf != m.Type {
		return bad("cannot mix '%s-subpath' with mount type '%s'", subpathOf, m.Type)
	}
	if m.Target == "" {
		return bad("target is required")
	}
	if (m.Type == "bind" || m.Type == "image") && m.Source == "" {
		return bad("a %s mount needs a source", m.Type)
	}
	return m, nil
}

// tmpfsSize parses a size with Docker's units: 512, 64k, 10m, 1g (binary).
func tmpfsSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	s = strings.TrimSuffix(s, "b")
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			mult, s = 1<<10, s[:n-1]
		case 'm':
			mult, s = 1<<20, s[:n-1]
		case 'g':
			mult, s = 1<<30, s[:n-1]
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	// ParseFloat takes "NaN", "Inf" and 1e300, which no int64 holds.
	if err != nil || !(n >= 0) || n*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (k, m, g), below 8 EiB", v)
	}
	return int64(n * float64(mult)), nil
}
