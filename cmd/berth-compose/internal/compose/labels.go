package compose

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/opencontainers/go-digest"
)

// The labels docker compose sets, verbatim: `docker compose` through berth's
// Docker API finds berth compose's containers, networks and volumes by them,
// and the other way round.
const (
	labelProject     = "com.docker.compose.project"
	labelService     = "com.docker.compose.service"
	labelNumber      = "com.docker.compose.container-number"
	labelOneoff      = "com.docker.compose.oneoff"
	labelConfigHash  = "com.docker.compose.config-hash"
	labelWorkingDir  = "com.docker.compose.project.working_dir"
	labelConfigFiles = "com.docker.compose.project.config_files"
	labelEnvFile     = "com.docker.compose.project.environment_file"
	labelVersion     = "com.docker.compose.version"
	labelImage       = "com.docker.compose.image"
	labelDependsOn   = "com.docker.compose.depends_on"
	labelReplace     = "com.docker.compose.replace"
	labelNetwork     = "com.docker.compose.network"
	labelVolume      = "com.docker.compose.volume"
	labelSlug        = "com.docker.compose.slug"
)

// composeVersion is the docker compose version berth compose's labels
// claim: the Compose behaviour it follows.
const composeVersion = "2.40.3"

// serviceHash is docker compose's config hash of a service: the JSON of
// its configuration without what does not change a container (build,
// pull policy, scale, replicas, depends_on, profiles). A container whose
// label differs is recreated by up.
func serviceHash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	b, err = legacyKeyOrder(b)
	if err != nil {
		return "", err
	}
	return digest.SHA256.FromBytes(b).Encoded(), nil
}

// hashKeyOrder is the order of a service's top-level JSON keys in the
// hash: the field order of compose-go's ServiceConfig before it grouped
// fields into embedded structs (v2.16 marshals healthcheck, deploy and
// others elsewhere). docker compose hashes this layout, so a container
// either tool made is not recreated by the other for nothing. Keys not
// listed come after, sorted.
var hashKeyOrder = strings.Fields(`profiles annotations attach build develop blkio_config cap_add
	cap_drop cgroup_parent cgroup cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period
	cpu_rt_runtime cpus cpuset cpu_shares command configs container_name credential_spec depends_on
	deploy device_cgroup_rules devices dns dns_opt dns_search dockerfile domainname entrypoint
	provider environment env_file expose extends external_links extra_hosts group_add gpus hostname
	healthcheck image init ipc isolation labels label_file links logging log_driver log_opt mem_limit
	mem_reservation memswap_limit mem_swappiness mac_address models net network_mode networks
	oom_kill_disable oom_score_adj pid pids_limit platform ports privileged pull_policy read_only
	restart runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal
	storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volume_driver volumes
	volumes_from working_dir pre_start post_start pre_stop`)

// legacyKeyOrder rewrites a JSON object with its top-level keys in
// hashKeyOrder; the values are kept byte for byte.
func legacyKeyOrder(obj []byte) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(fields))
	for _, k := range hashKeyOrder {
		if _, ok := fields[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range fields {
		if !slices.Contains(hashKeyOrder, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	out := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		name, _ := json.Marshal(k)
		out = append(out, name...)
		out = append(out, ':')
		out = append(out, fields[k]...)
	}
	return append(out, '}'), nil
}

// containerName is docker compose's name of a service's n-th container.
func containerName(project string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, n)
}

// dependsOnLabel is docker compose's com.docker.compose.depends_on value:
// service:condition:restart, sorted.
func dependsOnLabel(s types.ServiceConfig) string {
	var out []string
	for name, d := range s.DependsOn {
		out = append(out, name+":"+d.Condition+":"+strconv.FormatBool(d.Restart))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// projectFilter selects a project's objects by label.
func projectFilter(project string, extra ...string) map[string][]string {
	return map[string][]string{"label": append([]string{labelProject + "=" + project}, extra...)}
}
