package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRegistrySettings(t *testing.T) {
	p := writeFile(t, `
insecure_registries = ["10.0.0.0/8", "reg.local:5000"]
registry_ca_dir = "/etc/berth/certs.d"

[registry_mirrors]
"docker.io" = ["http://127.0.0.1:5001", "https://mirror.example"]
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.InsecureRegistries, []string{"10.0.0.0/8", "reg.local:5000"}) ||
		c.RegistryCADir != "/etc/berth/certs.d" ||
		!reflect.DeepEqual(c.RegistryMirrors["docker.io"], []string{"http://127.0.0.1:5001", "https://mirror.example"}) {
		t.Errorf("registry settings: %+v %+v %q", c.InsecureRegistries, c.RegistryMirrors, c.RegistryCADir)
	}
	for _, bad := range []struct{ toml, want string }{
		{`insecure_registries = ["http://reg:5000"]`, "insecure_registries"},
		{"[registry_mirrors]\n\"docker.io\" = [\"127.0.0.1:5001\"]", "registry_mirrors"},
	} {
		c, err := Load(writeFile(t, bad.toml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.toml, err)
		}
	}
}
