package service

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	stypes "github.com/berthproject/berth/pkg/types/service"
)

// validName is swarm's rule for service names (a DNS label: they resolve
// on the service's networks).
var validName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

// Docker's defaults.
const (
	defaultRestartDelay  = 5 * time.Second
	defaultUpdateMonitor = 5 * time.Second
	// Published ports picked by the cluster come from swarm's range.
	dynamicPortFirst = 30000
	dynamicPortLast  = 32767
)

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

func newID() string {
	var b [13]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])[:25]
}

var (
	nameLeft = []string{"agile", "bold", "brave", "calm", "clever", "eager", "fervent", "gentle",
		"happy", "jolly", "keen", "lucid", "merry", "nimble", "quiet", "proud", "sharp", "steady"}
	nameRight = []string{"albatross", "beacon", "buoy", "capstan", "compass", "cutter", "dinghy",
		"ferry", "galleon", "harbor", "jetty", "keel", "lighthouse", "mooring", "pier", "quay"}
)

func randomName() string {
	pick := func(list []string) string {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
		if err != nil {
			panic(err)
		}
		return list[n.Int64()]
	}
	return pick(nameLeft) + "_" + pick(nameRight)
}

// normalize checks spec and fills in Docker's defaults, in place, so
// that inspect shows what the cluster does.
func normalize(spec *stypes.ServiceSpec) error {
	if spec.Name == "" {
		spec.Name = randomName()
	}
	if len(spec.Name) > 63 || !validName.MatchString(spec.Name) {
		return invalid("invalid service name %q: use letters, digits, '-' and '_' (a DNS label, at most 63 characters, starting and ending with a letter or digit)", spec.Name)
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil || cs.Image == "" {
		return invalid("service %s has no image: give one (berth service create IMAGE)", spec.Name)
	}
	switch {
	case spec.Mode.Replicated != nil && spec.Mode.Global != nil:
		return invalid("service %s: a service is either replicated or global, not both", spec.Name)
	case spec.Mode.Replicated == nil && spec.Mode.Global == nil:
		spec.Mode.Replicated = &stypes.ReplicatedService{Replicas: 1}
	}
	tt := &spec.TaskTemplate
	if tt.RestartPolicy == nil {
		tt.RestartPolicy = &stypes.RestartPolicy{}
	}
	rp := tt.RestartPolicy
	switch rp.Condition {
	case "":
		rp.Condition = stypes.RestartPolicyConditionAny
	case stypes.RestartPolicyConditionAny, stypes.RestartPolicyConditionNone, stypes.RestartPolicyConditionOnFailure:
	default:
		return invalid("invalid restart condition %q: use none, on-failure or any", rp.Condition)
	}
	if rp.Delay == nil {
		d := defaultRestartDelay
		rp.Delay = &d
	}
	if *rp.Delay < 0 {
		return invalid("invalid restart delay %s: it cannot be negative", *rp.Delay)
	}
	if rp.MaxAttempts == nil {
		var n uint64
		rp.MaxAttempts = &n
	}
	if rp.Window != nil && *rp.Window < 0 {
		return invalid("invalid restart window %s: it cannot be negative", *rp.Window)
	}
	if tt.Placement != nil {
		for _, c := range tt.Placement.Constraints {
			if _, err := parseConstraint(c); err != nil {
				return err
			}
		}
		for _, p := range tt.Placement.Preferences {
			if p.Spread == nil || !strings.HasPrefix(p.Spread.SpreadDescriptor, "node.") {
				return invalid("invalid placement preference: use spread=node.labels.KEY (or another node attribute)")
			}
		}
	}
	if r := tt.Resources; r != nil {
		if r.Limits != nil && (r.Limits.NanoCPUs < 0 || r.Limits.MemoryBytes < 0) {
			return invalid("invalid resource limit: it cannot be negative")
		}
		if r.Reservations != nil && (r.Reservations.NanoCPUs < 0 || r.Reservations.MemoryBytes < 0) {
			return invalid("invalid resource reservation: it cannot be negative")
		}
	}
	if spec.UpdateConfig == nil {
		spec.UpdateConfig = &stypes.UpdateConfig{Parallelism: 1}
	}
	if err := normalizeUpdate(spec.UpdateConfig, "update", true); err != nil {
		return err
	}
	if spec.RollbackConfig == nil {
		spec.RollbackConfig = &stypes.UpdateConfig{Parallelism: 1}
	}
	if err := normalizeUpdate(spec.RollbackConfig, "rollback", false); err != nil {
		return err
	}
	if spec.EndpointSpec == nil {
		spec.EndpointSpec = &stypes.EndpointSpec{}
	}
	es := spec.EndpointSpec
	switch es.Mode {
	case "":
		es.Mode = stypes.ResolutionModeVIP
	case stypes.ResolutionModeVIP, stypes.ResolutionModeDNSRR:
	default:
		return invalid("invalid endpoint mode %q: use vip or dnsrr", es.Mode)
	}
	seen := map[string]bool{}
	for i := range es.Ports {
		p := &es.Ports[i]
		if p.Protocol == "" {
			p.Protocol = stypes.PortProtocolTCP
		}
		if p.Protocol != stypes.PortProtocolTCP && p.Protocol != stypes.PortProtocolUDP {
			return invalid("invalid port protocol %q: use tcp or udp", p.Protocol)
		}
		if p.PublishMode == "" {
			p.PublishMode = stypes.PortPublishModeIngress
		}
		if p.PublishMode != stypes.PortPublishModeIngress && p.PublishMode != stypes.PortPublishModeHost {
			return invalid("invalid publish mode %q: use ingress or host", p.PublishMode)
		}
		if p.TargetPort == 0 || p.TargetPort > 65535 || p.PublishedPort > 65535 {
			return invalid("invalid published port %d:%d: ports are 1-65535 (the target port is required)", p.PublishedPort, p.TargetPort)
		}
		if p.PublishedPort != 0 {
			k := fmt.Sprintf("%s/%d", p.Protocol, p.PublishedPort)
			if seen[k] {
				return invalid("port %s is published twice", k)
			}
			seen[k] = true
		}
		if es.Mode == stypes.ResolutionModeDNSRR && p.PublishMode == stypes.PortPublishModeIngress {
			return invalid("port published with ingress mode can't be used with dnsrr mode: publish it with mode=host")
		}
	}
	for i, n := range tt.Networks {
		if n.Target == "" {
			return invalid("network %d of service %s has no name", i+1, spec.Name)
		}
	}
	return nil
}

func normalizeUpdate(u *stypes.UpdateConfig, what string, rollbackOK bool) error {
	switch u.FailureAction {
	case "":
		u.FailureAction = stypes.UpdateFailureActionPause
	case stypes.UpdateFailureActionPause, stypes.UpdateFailureActionContinue:
	case stypes.UpdateFailureActionRollback:
		if !rollbackOK {
			return invalid("invalid %s failure action %q: use pause or continue", what, u.FailureAction)
		}
	default:
		return invalid("invalid %s failure action %q: use pause, continue or rollback", what, u.FailureAction)
	}
	switch u.Order {
	case "":
		u.Order = stypes.UpdateOrderStopFirst
	case stypes.UpdateOrderStopFirst, stypes.UpdateOrderStartFirst:
	default:
		return invalid("invalid %s order %q: use stop-first or start-first", what, u.Order)
	}
	if u.Monitor == 0 {
		u.Monitor = defaultUpdateMonitor
	}
	if u.Delay < 0 || u.Monitor < 0 {
		return invalid("invalid %s delay or monitor: it cannot be negative", what)
	}
	if u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1 {
		return invalid("invalid %s max failure ratio %g: give a number from 0 to 1", what, u.MaxFailureRatio)
	}
	return nil
}

// constraint is one placement constraint: key (node.hostname,
// node.labels.x, ...) ==/!= value.
type constraint struct {
	key   string
	equal bool
	value string
}

func parseConstraint(s string) (constraint, error) {
	for _, op := range []string{"==", "!="} {
		if k, v, ok := strings.Cut(s, op); ok {
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			c := constraint{key: k, equal: op == "==", value: v}
			switch {
			case k == "node.id", k == "node.hostname", k == "node.role", k == "node.platform.os", k == "node.platform.arch":
			case strings.HasPrefix(k, "node.labels.") && len(k) > len("node.labels."):
			case strings.HasPrefix(k, "engine.labels.") && len(k) > len("engine.labels."):
			default:
				return constraint{}, invalid("invalid constraint %q: use node.id, node.hostname, node.role, node.labels.KEY or node.platform.os/arch with == or !=", s)
			}
			if v == "" {
				return constraint{}, invalid("invalid constraint %q: give a value after %s", s, op)
			}
			return c, nil
		}
	}
	return constraint{}, invalid("invalid constraint %q: use KEY==VALUE or KEY!=VALUE (node.hostname==h1)", s)
}
