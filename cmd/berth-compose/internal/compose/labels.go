package compose

import (
	"encoding/json"
	"fmt"
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
	return digest.SHA256.FromBytes(b).Encoded(), nil
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
