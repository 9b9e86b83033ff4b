package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestDockerAPIPull pulls through the Docker API (POST /images/create) from
// a local registry. As dockerd: an image the registry does not have is an
// HTTP error (404) before any progress, not an error line in a 200 stream;
// a digest pulled from one repository is not found under another one
// (the registry is asked, berth's content store is not enough); the
// progress stream has Docker's header and trailer lines once each.
func TestDockerAPIPull(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	c := cli{t: t, s: s}
	a := newDockerAPI(t, s)

	ref := reg.Addr() + "/e2e/pulled:v1"
	c.ok("tag", "busybox", ref)
	out := c.ok("push", ref)
	_, rest, ok := strings.Cut(out, "v1: digest: ")
	if !ok {
		t.Fatalf("no digest line in the push:\n%s", out)
	}
	pushed := strings.Fields(rest)[0]
	c.ok("rmi", ref)

	t.Run("Stream", func(t *testing.T) {
		resp, b := a.do("POST", "/images/create?fromImage="+reg.Addr()+"/e2e/pulled&tag=v1", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("pull: %d %s", resp.StatusCode, b)
		}
		var status []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m struct{ Status, ID, Error string }
			if err := json.Unmarshal([]byte(l), &m); err != nil || m.Error != "" {
				t.Fatalf("stream line %q: %v", l, err)
			}
			if m.ID == "" || strings.HasPrefix(m.Status, "Pulling from") {
				status = append(status, strings.TrimSpace(m.ID+" "+m.Status))
			}
		}
		want := []string{"v1 Pulling from e2e/pulled", "Digest: " + pushed, "Status: Downloaded newer image for " + ref}
		if strings.Join(status, "\n") != strings.Join(want, "\n") {
			t.Errorf("header and trailer lines:\n%s\nwant:\n%s\nstream:\n%s", strings.Join(status, "\n"), strings.Join(want, "\n"), b)
		}
	})
	t.Run("PushStream", func(t *testing.T) {
		// Docker's push lines: the repository once, the digest once, then
		// the aux {Tag, Digest, Size}.
		pushRef := reg.Addr() + "/e2e/pushed"
		c.ok("tag", "busybox", pushRef+":v2")
		resp, b := a.do("POST", "/images/"+pushRef+"/push?tag=v2", nil, "X-Registry-Auth", "e30=")
		if resp.StatusCode != 200 {
			t.Fatalf("push: %d %s", resp.StatusCode, b)
		}
		var status []string
		aux := 0
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m struct {
				Status, ID, Error string
				Aux               *struct{ Tag, Digest string }
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil || m.Error != "" {
				t.Fatalf("stream line %q: %v", l, err)
			}
			if m.Aux != nil {
				aux++
				if m.Aux.Tag != "v2" || !strings.HasPrefix(m.Aux.Digest, "sha256:") {
					t.Errorf("aux %+v", *m.Aux)
				}
			}
			if m.ID == "" && m.Status != "" {
				status = append(status, m.Status)
			}
		}
		if len(status) != 2 || status[0] != "The push refers to repository ["+pushRef+"]" || !strings.HasPrefix(status[1], "v2: digest: sha256:") || aux != 1 {
			t.Errorf("push lines without an ID: %q, %d aux; stream:\n%s", status, aux, b)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, from := range []string{
			reg.Addr() + "/e2e/nosuchrepo&tag=v1",
			reg.Addr() + "/e2e/pulled&tag=nosuchtag",
			// The digest is in berth's store, from e2e/pulled: the
			// registry has no such manifest in e2e/other.
			reg.Addr() + "/e2e/other@" + pushed,
		} {
			a.expect("POST", "/images/create?fromImage="+from, nil, 404, "not found")
		}
		if out := c.ok("images", "-q", reg.Addr()+"/e2e/other"); out != "" {
			t.Errorf("a failed pull named an image: %s", out)
		}
	})
}
