package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// load is a client loop: HTTP requests, one connection each, made from
// the hosts' namespaces to a published port of every host in turn,
// counting the answers by body and the failures.
type load struct {
	mu      sync.Mutex
	ok      int
	bodies  map[string]int
	failed  []string
	stop    chan struct{}
	stopped sync.WaitGroup
}

// startLoad starts one loop per host of c, each sending its requests to
// the hosts' addresses in turn on port, with a pause between requests.
// The loops end on Stop, or by themselves after max.
func startLoad(c *Cluster, port int, max time.Duration) *load {
	l := &load{bodies: map[string]int{}, stop: make(chan struct{})}
	end := time.Now().Add(max)
	for i, from := range c.Hosts {
		l.stopped.Add(1)
		go func() {
			defer l.stopped.Done()
			for n := i; time.Now().Before(end); n++ {
				select {
				case <-l.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				to := c.Hosts[n%len(c.Hosts)]
				body, err := get(from, fmt.Sprintf("%s:%d", to.IP, port))
				l.mu.Lock()
				if err != nil {
					l.failed = append(l.failed, fmt.Sprintf("%s %s→%s: %v", time.Now().Format("15:04:05.000"), from.Name, to.Name, err))
				} else {
					l.ok++
					l.bodies[body]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// Stop ends the loops and waits for them.
func (l *load) Stop() {
	close(l.stop)
	l.stopped.Wait()
}

// get makes one HTTP/1.0 request to addr from from's namespace and
// returns the body of a 200 answer.
func get(from *Host, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// taskNames are the hostnames of the service's running task containers
// (what each answers), waiting until there are n.
func taskNames(t *testing.T, c *Cluster, service string, n int) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, cs := range taskCtrs(t, c, service, n) {
		for _, ct := range cs {
			out[ct[1]] = true
		}
	}
	return out
}

// webCmdTerm is webCmd for a server that stops at once on SIGTERM, as
// real ones do (httpd as PID 1 would ignore it until the grace period's
// SIGKILL, hiding a task stopped while it still gets traffic).
const webCmdTerm = "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www & trap 'kill $!; exit 0' TERM; wait"

// TestServiceRollingUpdateNoFailures: while a client loop makes HTTP
// requests to the published port on every node, from every node, a
// rolling update to a new image, start-first, with a healthcheck,
// replaces every task, and not one request fails: a new task takes
// traffic only once healthy, and an old one leaves every node's balancer
// before it is stopped. make test runs it with 3 replicas one at a time;
// make test-cluster with 6, two at a time, and back again.
func TestServiceRollingUpdateNoFailures(t *testing.T) {
	replicas, parallelism := 3, "1"
	if os.Getenv(EnvFull) == "1" {
		replicas, parallelism = 6, "2"
	}
	// The drain period is a fixed wait (docs/services.md): a node that
	// applies the store's events later than that still balances a
	// connection to a task being stopped. On a shared CI machine at a
	// load average of 9, the cluster store lost its leader for seconds
	// and 1 of 717 requests was refused with the default 2 s; the test
	// gives the nodes the margin docs/services.md names for loaded
	// nodes. With no drain at all, requests fail at any load.
	c := New(t, 3, harness.WithDaemonArgs("--service-drain-period", "5s"))
	c.Form()
	v2 := harness.Image{Name: "docker.io/library/webapp:v2", SmallLayers: 1}
	var wg sync.WaitGroup
	for _, h := range c.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Stack.LoadBusybox()
			h.Stack.LoadImage(v2)
		}()
	}
	wg.Wait()
	h1 := c.Hosts[0]
	h1.BerthOK("network", "create", "-d", "overlay", "--subnet", "10.234.0.0/24", "rollnet")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "rollnet", true)
	}
	h1.BerthOK("service", "create", "-d", "--name", "web", "--replicas", fmt.Sprint(replicas), "--network", "rollnet",
		"-p", "30090:8080", "--update-order", "start-first", "--update-parallelism", parallelism, "--update-monitor", "1s",
		"--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/", "--health-interval", "500ms",
		"busybox", "sh", "-c", webCmdTerm)
	old := taskNames(t, c, "web", replicas)
	// Every node's mesh reaches every task before the loop starts.
	for _, h := range c.Hosts {
		url := "http://" + h.IP + ":30090/"
		waitAnswers(t, "every task through "+url, func() map[string]int { return hostAnswers(t, h1, url, 3*replicas) },
			func(g map[string]int) bool { return len(g) == replicas && g["FAILED"] == 0 })
	}

	update := func(image string, want map[string]bool) map[string]bool {
		t.Helper()
		l := startLoad(c, 30090, harness.Timeout(5*time.Minute))
		h1.BerthOK("service", "update", "-d", "--image", image, "web")
		waitFor(t, "the update to "+image+" completed", func() (bool, string) {
			out := h1.BerthOK("service", "inspect", "--format", "{{.UpdateStatus.State}}", "web")
			return strings.TrimSpace(out) == "completed", out
		})
		// The old tasks stop after the update completed (start-first):
		// the loop goes on until no old container runs anywhere.
		waitFor(t, "only containers of "+image, func() (bool, string) {
			var got []string
			for _, h := range c.Hosts {
				out := h.BerthOK("ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.Image}}")
				for _, img := range strings.Fields(out) {
					if img != image {
						return false, h.Name + " runs " + img
					}
					got = append(got, img)
				}
			}
			return len(got) == replicas, fmt.Sprint(got)
		})
		time.Sleep(time.Second)
		l.Stop()
		now := taskNames(t, c, "web", replicas)
		t.Logf("update to %s: %d answers %v, %d failed", image, l.ok, l.bodies, len(l.failed))
		if len(l.failed) > 0 {
			sort.Strings(l.failed)
			t.Fatalf("%d of %d requests failed during the rolling update to %s:\n%s", len(l.failed), len(l.failed)+l.ok, image,
				strings.Join(l.failed[:min(len(l.failed), 20)], "\n"))
		}
		oldSeen, newSeen := 0, 0
		for b, n := range l.bodies {
			switch {
			case want[b]:
				oldSeen += n
			case now[b]:
				newSeen += n
			default:
				t.Fatalf("answer %q is from no task of the service (old %v, new %v)", b, want, now)
			}
		}
		if oldSeen == 0 || newSeen == 0 {
			t.Fatalf("the loop did not see the update happen: %d answers from old tasks, %d from new ones", oldSeen, newSeen)
		}
		return now
	}
	cur := update("webapp:v2", old)
	if os.Getenv(EnvFull) == "1" {
		update("busybox", cur)
	}

	h1.BerthOK("service", "rm", "web")
	for _, h := range c.Hosts {
		svcClean(t, h)
	}
	noVIPs(t, h1)
	waitFor(t, "network rm rollnet", func() (bool, string) {
		r := h1.Berth("network", "rm", "rollnet")
		return r.ExitCode == 0, r.String()
	})
}
