package main

// Pull of a 212 MB image (busybox + 5 × 40 MiB random data layers, 6
// layers) from a distribution registry on loopback, after removing the
// image locally, for every engine in the same run. (Issue 6.)

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/berthproject/berth/test/harness"
)

// pullArgs and pullRemoveArgs are the engines' pull and remove commands.
func pullArgs(engine, ref string) []string {
	switch engine {
	case "ctr":
		return []string{"images", "pull", "--plain-http", ref} // pulls and unpacks
	case "podman":
		return []string{"pull", "-q", "--tls-verify=false", ref}
	default: // berth, docker (loopback registries are insecure by default)
		return []string{"pull", "-q", ref}
	}
}

func pullRemoveArgs(engine, ref string) []string {
	switch engine {
	case "ctr":
		return []string{"images", "rm", "--sync", ref}
	default:
		return []string{"rmi", ref}
	}
}

func init() {
	Register(Scenario{
		Name:   "pull/212mb",
		Title:  "`pull` of a 212 MB image (6 layers: busybox + 5 × 40 MiB random data) from a local registry",
		Group:  "Images",
		Unit:   "ms",
		Order:  600,
		Target: &Target{Text: "≤ 0.6 × Docker's median", Peer: "docker", Ratio: 0.6},
		Run:    runPull,
	})
}

func runPull(env *Env) error {
	tb := &benchTB{}
	defer func() {
		if err := tb.runCleanups(); err != nil {
			logf("pull: clean-up: %v", err)
		}
	}()
	var ref string
	err := guard(func() {
		archive := harness.Archive(tb, harness.Image{Name: "localhost/bench/pull:latest", DataLayers: 5, LayerSizeMiB: 40})
		reg := harness.StartRegistry(tb, harness.RegistryOptions{})
		ref = reg.Addr() + "/bench/pull:latest"
		out, err := exec.CommandContext(env.Ctx, "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
			"oci-archive:"+archive, "docker://"+ref).CombinedOutput()
		if err != nil {
			tb.Fatalf("skopeo copy to the registry: %v: %s", err, out)
		}
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "skip") {
			env.Skip(err.Error())
			return nil
		}
		return err
	}
	env.Note("Registry: Debian's docker-registry on 127.0.0.1; each sample removes the image first (`rmi`, `ctr images rm --sync`), then times the pull command from fork to exit (download, digest checks, unpack).")
	reps := env.RepsFor(10, 3)
	return env.RoundRobin(reps, env.Engines, func(_ int, e *Engine) error {
		// Not timed: make sure the image is not there (the first round
		// finds nothing to remove).
		_, _ = e.Exec(env.Ctx, pullRemoveArgs(e.Name, ref)...)
		d, err := e.Exec(env.Ctx, pullArgs(e.Name, ref)...)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		env.RecordDuration(e.Name, d)
		_, err = e.Exec(env.Ctx, pullRemoveArgs(e.Name, ref)...)
		return err
	})
}
