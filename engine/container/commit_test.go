package container

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

func TestCommitConfig(t *testing.T) {
	img := ResolvedImage{Config: ocispec.Image{Config: ocispec.ImageConfig{
		Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}, WorkingDir: "/app", Labels: map[string]string{"a": "1"},
	}}}
	cfg := &containertypes.Config{Cmd: []string{"sleep", "1"}, Env: []string{"X=1"}, Labels: map[string]string{"b": "2"},
		PortBindings: []containertypes.PortBinding{{ContainerPort: 53, Proto: "udp"}}}

	got, onBuild, _, err := commitConfig(cfg, img, []string{
		"ENV PATH=$PATH:/opt Y=$X", "EXPOSE 8000-8001/tcp 9000", "WORKDIR sub", "ENTRYPOINT /run.sh", "ONBUILD RUN true", "USER nobody",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/bin:/opt", "X=1", "Y=1"}; !slices.Equal(got.Env, want) {
		t.Errorf("Env: want %v; got %v", want, got.Env)
	}
	for _, p := range []string{"53/udp", "8000/tcp", "8001/tcp", "9000/tcp"} {
		if _, ok := got.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts %v lacks %s", got.ExposedPorts, p)
		}
	}
	if got.WorkingDir != "/app/sub" || got.User != "nobody" {
		t.Errorf("WorkingDir %q User %q", got.WorkingDir, got.User)
	}
	// ENTRYPOINT without CMD clears the command, as Docker's builder.
	if want := []string{"/bin/sh", "-c", "/run.sh"}; !slices.Equal(got.Entrypoint, want) || got.Cmd != nil {
		t.Errorf("Entrypoint %v Cmd %v", got.Entrypoint, got.Cmd)
	}
	if got.Labels["a"] != "1" || got.Labels["b"] != "2" {
		t.Errorf("Labels %v", got.Labels)
	}
	if !slices.Equal(onBuild, []string{"RUN true"}) {
		t.Errorf("OnBuild %v", onBuild)
	}

	// Without changes: the container's command over the image's.
	got, _, _, err = commitConfig(cfg, img, nil)
	if err != nil || !slices.Equal(got.Cmd, []string{"sleep", "1"}) {
		t.Errorf("Cmd %v, %v", got.Cmd, err)
	}

	for _, bad := range [][]string{{"RUN true"}, {"FROM busybox"}, {"EXPOSE 0"}, {"EXPOSE 80/http"}, {"VOLUME"}} {
		_, _, _, err := commitConfig(cfg, img, bad)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "--change") {
			t.Errorf("%v: want an invalid --change error; got %v", bad, err)
		}
	}
}
