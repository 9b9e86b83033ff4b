package container

import (
	"slices"
	"testing"
)

// The cases of dockerd's daemon/links tests: the variables a link gives,
// port ranges folded as dockerd folds them.
func TestLinkEnv(t *testing.T) {
	got := linkEnv("/db/docker-1", "172.0.17.2", nil, []string{"6379/tcp"})
	slices.Sort(got)
	want := []string{
		"DOCKER_1_NAME=/db/docker-1",
		"DOCKER_1_PORT=tcp://172.0.17.2:6379",
		"DOCKER_1_PORT_6379_TCP=tcp://172.0.17.2:6379",
		"DOCKER_1_PORT_6379_TCP_ADDR=172.0.17.2",
		"DOCKER_1_PORT_6379_TCP_PORT=6379",
		"DOCKER_1_PORT_6379_TCP_PROTO=tcp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("naming:\n got %q\nwant %q", got, want)
	}

	got = linkEnv("/db/docker", "172.0.17.2", []string{"PASSWORD=gordon", "PATH=/bin", "HOME=/root"},
		[]string{"6300/udp", "6379/tcp", "6380/tcp", "6381/tcp", "6382/udp"})
	slices.Sort(got)
	want = []string{
		"DOCKER_ENV_PASSWORD=gordon",
		"DOCKER_NAME=/db/docker",
		"DOCKER_PORT=tcp://172.0.17.2:6379",
		"DOCKER_PORT_6300_UDP=udp://172.0.17.2:6300",
		"DOCKER_PORT_6300_UDP_ADDR=172.0.17.2",
		"DOCKER_PORT_6300_UDP_PORT=6300",
		"DOCKER_PORT_6300_UDP_PROTO=udp",
		"DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
		"DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
		"DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
		"DOCKER_PORT_6379_TCP_PORT=6379",
		"DOCKER_PORT_6379_TCP_PORT_END=6381",
		"DOCKER_PORT_6379_TCP_PORT_START=6379",
		"DOCKER_PORT_6379_TCP_PROTO=tcp",
		"DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
		"DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
		"DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
		"DOCKER_PORT_6380_TCP_PORT=6380",
		"DOCKER_PORT_6380_TCP_PROTO=tcp",
		"DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
		"DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
		"DOCKER_PORT_6381_TCP_PORT=6381",
		"DOCKER_PORT_6381_TCP_PROTO=tcp",
		"DOCKER_PORT_6382_UDP=udp://172.0.17.2:6382",
		"DOCKER_PORT_6382_UDP_ADDR=172.0.17.2",
		"DOCKER_PORT_6382_UDP_PORT=6382",
		"DOCKER_PORT_6382_UDP_PROTO=udp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ranges:\n got %q\nwant %q", got, want)
	}
}

func TestParseLink(t *testing.T) {
	for in, want := range map[string][2]string{
		"db":             {"db", "db"},
		"db:mysql":       {"db", "mysql"},
		"db1:/mysql":     {"db1", "mysql"},
		"/db:/app/mysql": {"db", "mysql"}, // the form inspect shows
		"db:x":           {"db", "x"},
	} {
		name, alias, err := parseLink(in)
		if err != nil || name != want[0] || alias != want[1] {
			t.Errorf("parseLink(%q) = %q, %q, %v; want %q", in, name, alias, err, want)
		}
	}
	for _, bad := range []string{"", "a:b:c", ":alias", "db:", "db:bad alias"} {
		if _, _, err := parseLink(bad); err == nil {
			t.Errorf("parseLink(%q) accepted", bad)
		}
	}
}
