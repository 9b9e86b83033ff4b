package compose

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Every field compose-go parses is either honoured by berth compose or
// refused by name: check walks the loaded project and reports each set
// field whose path (YAML names, map keys and list indexes left out) is not
// in one of these lists. A field is listed here only once convert.go
// translates it; some listed fields accept only some values (convert.go
// refuses the others by name too).
var supportedService = set(append([]string{
	"name", "profiles", "restart", "scale", "attach", "container_name", "extends.file", "extends.service",
	"deploy.mode", "deploy.replicas",
	"deploy.resources.limits.cpus", "deploy.resources.limits.memory", "deploy.resources.limits.pids",
	"deploy.resources.reservations.memory",
	"deploy.restart_policy.condition", "deploy.restart_policy.max_attempts",
	"annotations", "blkio_config.weight", "cap_add", "cap_drop", "cgroup_parent", "cgroup",
	"cpu_period", "cpu_quota", "cpus", "cpuset", "cpu_shares",
	"command", "entrypoint", "environment", "env_file.path", "env_file.required", "env_file.format",
	"label_file", "labels", "configs.source", "configs.target", "secrets.source", "secrets.target",
	"devices.source", "devices.target", "devices.permissions",
	"dns", "dns_opt", "dns_search", "domainname", "extra_hosts", "group_add", "hostname", "image", "init",
	"ipc", "pid", "uts", "links", "logging.driver", "logging.options",
	"mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "mac_address",
	"network_mode", "networks.aliases", "networks.ipv4_address", "networks.mac_address",
	"oom_kill_disable", "oom_score_adj", "pids_limit", "platform", "privileged", "pull_policy", "read_only",
	"runtime", "security_opt", "shm_size", "stop_grace_period", "stop_signal", "storage_opt", "sysctls",
	"tmpfs", "ulimits.single", "ulimits.soft", "ulimits.hard", "user", "working_dir",
	"volumes.type", "volumes.source", "volumes.target", "volumes.read_only", "volumes.consistency",
	"volumes.bind.propagation", "volumes.bind.create_host_path", "volumes.bind.selinux",
	"volumes.volume.nocopy", "volumes.tmpfs.size", "volumes.tmpfs.mode", "volumes_from",
	"depends_on.condition", "depends_on.restart", "depends_on.required",
	"expose", "healthcheck.test", "healthcheck.timeout", "healthcheck.interval", "healthcheck.retries",
	"healthcheck.start_period", "healthcheck.start_interval", "healthcheck.disable",
	"ports.target", "ports.published", "ports.host_ip", "ports.protocol", "ports.mode", "ports.name",
	"stdin_open", "tty",
}, buildFields...)...)

var supportedNetwork = set("name", "driver", "driver_opts", "ipam.driver", "ipam.config.subnet",
	"ipam.config.gateway", "ipam.config.ip_range", "ipam.config.aux_addresses", "ipam.options",
	"external", "internal", "attachable", "labels", "enable_ipv4", "enable_ipv6")

var supportedVolume = set("name", "driver", "driver_opts", "external", "labels")

var supportedFile = set("name", "file")

func set(paths ...string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}

// check refuses a project that sets a field berth compose does not honour.
// All problems are reported at once, sorted.
func check(p *types.Project) error {
	var problems []string
	add := func(kind, name string, allowed map[string]bool, v any) {
		walk(reflect.ValueOf(v), "", "", allowed, func(shown string) {
			problems = append(problems, fmt.Sprintf("%s %q: %q is not supported by berth compose", kind, name, shown))
		})
	}
	for name, s := range p.Services {
		add("service", name, supportedService, s)
	}
	for name, n := range p.Networks {
		add("network", name, supportedNetwork, n)
	}
	for name, v := range p.Volumes {
		add("volume", name, supportedVolume, v)
	}
	for name, s := range p.Secrets {
		add("secret", name, supportedFile, types.FileObjectConfig(s))
	}
	for name, c := range p.Configs {
		add("config", name, supportedFile, types.FileObjectConfig(c))
	}
	for name := range p.Models {
		problems = append(problems, fmt.Sprintf("model %q: top-level \"models\" are not supported by berth compose", name))
	}
	for name := range p.Jobs {
		problems = append(problems, fmt.Sprintf("job %q: top-level \"jobs\" are not supported by berth compose", name))
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%s\nRemove these fields, or run the project with docker compose through berth's Docker API", strings.Join(problems, "\n"))
}

// walk reports every set leaf of v whose path is not allowed. path is the
// field path matched against allowed (YAML names only); shown is the path
// printed (with map keys and list indexes).
func walk(v reflect.Value, path, shown string, allowed map[string]bool, report func(string)) {
	if !v.IsValid() || v.IsZero() {
		return
	}
	if allowed[path] {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		walk(v.Elem(), path, shown, allowed, report)
		return
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			switch {
			case name == "-" || strings.HasPrefix(name, "#"):
				continue // not from the file (CustomLabels) or x- extensions
			case name == "" && strings.Contains(opts, "inline"):
				walk(v.Field(i), path, shown, allowed, report) // ContainerSpec, WorkloadSpec
				continue
			case name == "":
				continue
			}
			walk(v.Field(i), join(path, name), join(shown, name), allowed, report)
		}
		return
	case reflect.Map:
		if !structy(v.Type().Elem()) {
			break
		}
		keys := v.MapKeys()
		for _, k := range keys {
			walk(v.MapIndex(k), path, join(shown, fmt.Sprint(k.Interface())), allowed, report)
		}
		return
	case reflect.Slice:
		if !structy(v.Type().Elem()) {
			break
		}
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), path, fmt.Sprintf("%s[%d]", shown, i), allowed, report)
		}
		return
	}
	report(shown)
}

func structy(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
