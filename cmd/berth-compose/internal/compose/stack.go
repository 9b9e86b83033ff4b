package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// labelStack is docker stack's label on a stack's services and networks.
const labelStack = "com.docker.stack.namespace"

// cmdStack is `berth stack` (docker stack's deploy, ls, ps, rm): a Compose
// file's services as cluster services, named STACK_SERVICE, on overlay
// networks named STACK_NETWORK. Every Compose field is either mapped onto
// the service spec or refused by name.
func (a *app) cmdStack() *cli.Command {
	return &cli.Command{
		Name: "stack", Usage: "manage stacks of services on a cluster (docker stack)",
		Subcommands: []*cli.Command{
			{
				Name: "deploy", Usage: "deploy a new stack or update an existing one", ArgsUsage: "STACK",
				Flags: []cli.Flag{&cli.StringSliceFlag{Name: "compose-file", Aliases: []string{"c"}, Usage: "path to a Compose file", Required: true}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usage("\"stack deploy\" requires exactly 1 argument (the stack's name)")
					}
					return a.stackDeploy(c.Context, c.StringSlice("compose-file"), c.Args().First())
				},
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "list stacks",
				Action: func(c *cli.Context) error { return a.stackLs(c.Context) },
			},
			{
				Name: "ps", Usage: "list the tasks in the stack", ArgsUsage: "STACK",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display task IDs"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usage("\"stack ps\" requires exactly 1 argument")
					}
					return a.stackPs(c.Context, c.Args().First(), c.Bool("quiet"))
				},
			},
			{
				Name: "rm", Aliases: []string{"remove", "down"}, Usage: "remove one or more stacks", ArgsUsage: "STACK [STACK...]",
				Action: func(c *cli.Context) error {
					if c.NArg() < 1 {
						return usage("\"stack rm\" requires at least 1 argument")
					}
					for _, n := range c.Args().Slice() {
						if err := a.stackRm(c.Context, n); err != nil {
							return err
						}
					}
					return nil
				},
			},
		},
	}
}

// stackServiceKeys are the Compose service fields stackSpec maps; any
// other one set in the file is refused.
var stackServiceKeys = map[string]bool{
	"name": true, "image": true, "command": true, "entrypoint": true, "environment": true,
	"working_dir": true, "user": true, "hostname": true, "labels": true, "healthcheck": true,
	"volumes": true, "networks": true, "ports": true, "deploy": true, "stop_grace_period": true,
	"stop_signal": true, "tty": true, "stdin_open": true, "read_only": true, "init": true,
	"cap_add": true, "cap_drop": true, "extra_hosts": true, "dns": true, "dns_search": true,
	"sysctls": true, "group_add": true,
}

// unmapped names the fields of v (as its JSON) that are set and not in
// known, prefixed with prefix.
func unmapped(v any, known map[string]bool, prefix string) []string {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	var out []string
	for k, val := range m {
		if !known[k] && !zeroJSON(val) {
			out = append(out, prefix+k)
		}
	}
	sort.Strings(out)
	return out
}

func zeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !zeroJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

func durp(d *types.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	t := time.Duration(*d)
	return &t
}

// stackSpec maps one Compose service onto a service spec.
func stackSpec(stack string, p *types.Project, s types.ServiceConfig) (stypes.ServiceSpec, error) {
	var spec stypes.ServiceSpec
	bad := unmapped(s, stackServiceKeys, "")
	if s.Deploy != nil {
		bad = append(bad, unmapped(s.Deploy, map[string]bool{
			"mode": true, "replicas": true, "labels": true, "update_config": true, "rollback_config": true,
			"resources": true, "restart_policy": true, "placement": true, "endpoint_mode": true,
		}, "deploy.")...)
		for _, r := range []*types.Resource{s.Deploy.Resources.Limits, s.Deploy.Resources.Reservations} {
			if r != nil && (len(r.Devices) > 0 || len(r.GenericResources) > 0) {
				bad = append(bad, "deploy.resources devices and generic_resources")
				break
			}
		}
	}
	for name, n := range s.Networks {
		if n != nil && (n.Ipv4Address != "" || n.Ipv6Address != "" || len(n.LinkLocalIPs) > 0 || n.InterfaceName != "" || n.MacAddress != "") {
			bad = append(bad, "networks."+name+" addresses")
		}
	}
	if s.Image == "" {
		bad = append(bad, "build (a stack runs images: give image:)")
	}
	if len(bad) > 0 {
		return spec, fmt.Errorf("service %s: %s: not supported by berth stack (see docs/services.md): %w", s.Name, strings.Join(bad, ", "), errdefs.ErrInvalidArgument)
	}

	cs := &stypes.ContainerSpec{
		Image: s.Image, Command: s.Entrypoint, Args: s.Command, Dir: s.WorkingDir, User: s.User,
		Hostname: s.Hostname, Labels: s.Labels, TTY: s.Tty, OpenStdin: s.StdinOpen, ReadOnly: s.ReadOnly,
		StopSignal: s.StopSignal, StopGracePeriod: durp(s.StopGracePeriod), Init: s.Init,
		CapabilityAdd: s.CapAdd, CapabilityDrop: s.CapDrop, Sysctls: s.Sysctls, Groups: s.GroupAdd,
	}
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		cs.Env = append(cs.Env, k+"="+*v)
	}
	sort.Strings(cs.Env)
	for host, ips := range s.ExtraHosts {
		for _, ip := range ips {
			cs.Hosts = append(cs.Hosts, ip+" "+host)
		}
	}
	sort.Strings(cs.Hosts)
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 {
		cs.DNSConfig = &stypes.DNSConfig{Nameservers: s.DNS, Search: s.DNSSearch}
	}
	if h := s.HealthCheck; h != nil {
		hc := &container.HealthConfig{Test: h.Test}
		if h.Disable {
			hc.Test = []string{"NONE"}
		}
		if d := durp(h.Interval); d != nil {
			hc.Interval = *d
		}
		if d := durp(h.Timeout); d != nil {
			hc.Timeout = *d
		}
		if d := durp(h.StartPeriod); d != nil {
			hc.StartPeriod = *d
		}
		if d := durp(h.StartInterval); d != nil {
			hc.StartInterval = *d
		}
		if h.Retries != nil {
			hc.Retries = int(*h.Retries)
		}
		cs.Healthcheck = hc
	}
	for _, v := range s.Volumes {
		m := container.MountSpec{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source != "" {
				if vol, ok := p.Volumes[v.Source]; ok && bool(vol.External) {
					m.Source = vol.Name
				} else {
					m.Source = stack + "_" + v.Source
				}
			}
			if v.Volume != nil {
				m.VolumeNoCopy = v.Volume.NoCopy
			}
		case types.VolumeTypeBind:
			if v.Bind != nil {
				m.BindPropagation = v.Bind.Propagation
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsSize = int64(v.Tmpfs.Size)
				m.TmpfsMode = v.Tmpfs.Mode
			}
		default:
			return spec, fmt.Errorf("service %s: volume type %q: not supported by berth stack: %w", s.Name, v.Type, errdefs.ErrInvalidArgument)
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	spec = stypes.ServiceSpec{
		Name:         stack + "_" + s.Name,
		Labels:       map[string]string{labelStack: stack},
		TaskTemplate: stypes.TaskSpec{ContainerSpec: cs},
		Mode:         stypes.ServiceMode{Replicated: &stypes.ReplicatedService{Replicas: 1}},
	}
	nets := make([]string, 0, len(s.Networks))
	for name := range s.Networks {
		nets = append(nets, name)
	}
	sort.Strings(nets)
	for _, name := range nets {
		att := stypes.NetworkAttachmentConfig{Target: stackNetworkName(stack, p, name), Aliases: []string{s.Name}}
		if n := s.Networks[name]; n != nil {
			att.Aliases = append(att.Aliases, n.Aliases...)
			att.DriverOpts = n.DriverOpts
		}
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, att)
	}
	for _, pc := range s.Ports {
		port := stypes.PortConfig{Name: pc.Name, Protocol: pc.Protocol, TargetPort: pc.Target, PublishMode: pc.Mode}
		if pc.HostIP != "" {
			return spec, fmt.Errorf("service %s: ports host_ip: not supported by berth stack (a service's port is published on every node's addresses): %w", s.Name, errdefs.ErrInvalidArgument)
		}
		if pc.Published != "" {
			n, err := strconv.ParseUint(pc.Published, 10, 16)
			if err != nil {
				return spec, fmt.Errorf("service %s: published port %q: a stack publishes one port, not a range: %w", s.Name, pc.Published, errdefs.ErrInvalidArgument)
			}
			port.PublishedPort = uint32(n)
		}
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &stypes.EndpointSpec{}
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, port)
	}
	if d := s.Deploy; d != nil {
		for k, v := range d.Labels {
			spec.Labels[k] = v
		}
		switch d.Mode {
		case "", "replicated":
			if d.Replicas != nil {
				spec.Mode.Replicated.Replicas = uint64(*d.Replicas)
			}
		case "global":
			spec.Mode = stypes.ServiceMode{Global: &stypes.GlobalService{}}
		default:
			return spec, fmt.Errorf("service %s: deploy.mode %q: use replicated or global: %w", s.Name, d.Mode, errdefs.ErrInvalidArgument)
		}
		spec.UpdateConfig = updateConfig(d.UpdateConfig)
		spec.RollbackConfig = updateConfig(d.RollbackConfig)
		res := &stypes.ResourceRequirements{}
		if l := d.Resources.Limits; l != nil {
			res.Limits = &stypes.Limit{NanoCPUs: int64(float64(l.NanoCPUs) * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
		}
		if r := d.Resources.Reservations; r != nil {
			res.Reservations = &stypes.Resources{NanoCPUs: int64(float64(r.NanoCPUs) * 1e9), MemoryBytes: int64(r.MemoryBytes)}
		}
		if res.Limits != nil || res.Reservations != nil {
			spec.TaskTemplate.Resources = res
		}
		if rp := d.RestartPolicy; rp != nil {
			spec.TaskTemplate.RestartPolicy = &stypes.RestartPolicy{Condition: rp.Condition, Delay: durp(rp.Delay), MaxAttempts: rp.MaxAttempts, Window: durp(rp.Window)}
		}
		pl := d.Placement
		if len(pl.Constraints) > 0 || len(pl.Preferences) > 0 || pl.MaxReplicas > 0 {
			place := &stypes.Placement{Constraints: pl.Constraints, MaxReplicas: pl.MaxReplicas}
			for _, pref := range pl.Preferences {
				place.Preferences = append(place.Preferences, stypes.PlacementPreference{Spread: &stypes.SpreadOver{SpreadDescriptor: pref.Spread}})
			}
			spec.TaskTemplate.Placement = place
		}
		if d.EndpointMode != "" {
			if spec.EndpointSpec == nil {
				spec.EndpointSpec = &stypes.EndpointSpec{}
			}
			spec.EndpointSpec.Mode = d.EndpointMode
		}
	}
	return spec, nil
}

func updateConfig(u *types.UpdateConfig) *stypes.UpdateConfig {
	if u == nil {
		return nil
	}
	out := &stypes.UpdateConfig{Parallelism: 1, Delay: time.Duration(u.Delay), FailureAction: u.FailureAction,
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: u.Order}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	return out
}

// stackNetworkName is the cluster name of a Compose network of the stack.
func stackNetworkName(stack string, p *types.Project, name string) string {
	if n, ok := p.Networks[name]; ok && bool(n.External) {
		return n.Name
	}
	return stack + "_" + name
}

func (a *app) stackDeploy(ctx context.Context, files []string, stack string) error {
	if stack == "" || strings.ContainsAny(stack, "/: ") {
		return usage("invalid stack name %q", stack)
	}
	a.files, a.name = files, stack
	p, err := a.load(ctx)
	if err != nil {
		return err
	}
	specs := map[string]stypes.ServiceSpec{}
	names := make([]string, 0, len(p.Services))
	for name, s := range p.Services {
		spec, err := stackSpec(stack, p, s)
		if err != nil {
			return err
		}
		specs[name] = spec
		names = append(names, name)
	}
	sort.Strings(names)
	for name, n := range p.Networks {
		if n.External {
			continue
		}
		switch n.Driver {
		case "", "overlay":
		default:
			return fmt.Errorf("network %s: driver %q: a stack's networks are overlay networks: %w", name, n.Driver, errdefs.ErrInvalidArgument)
		}
	}
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	// Networks first (overlay, labelled with the stack), then services:
	// created, or updated at their current version.
	netNames := make([]string, 0, len(p.Networks))
	for name := range p.Networks {
		netNames = append(netNames, name)
	}
	sort.Strings(netNames)
	for _, name := range netNames {
		n := p.Networks[name]
		if n.External {
			continue
		}
		full := stack + "_" + name
		if _, err := cl.Networks().Inspect(ctx, full); err == nil {
			continue
		}
		labels := map[string]string{labelStack: stack}
		for k, v := range n.Labels {
			labels[k] = v
		}
		fmt.Fprintf(a.env.Stdout, "Creating network %s\n", full)
		if _, err := cl.Networks().Create(ctx, network.CreateOptions{Name: full, Driver: "overlay", Attachable: n.Attachable, Internal: n.Internal, Labels: labels}); err != nil {
			return err
		}
	}
	for _, name := range names {
		spec := specs[name]
		cur, err := cl.Services().Inspect(ctx, spec.Name)
		switch {
		case err == nil:
			fmt.Fprintf(a.env.Stdout, "Updating service %s (id: %s)\n", spec.Name, cur.ID)
			if _, err := cl.Services().Update(ctx, cur.ID, cur.Version.Index, spec, stypes.UpdateOptions{}); err != nil {
				return err
			}
		case errdefs.IsNotFound(err):
			fmt.Fprintf(a.env.Stdout, "Creating service %s\n", spec.Name)
			if _, err := cl.Services().Create(ctx, spec); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// stackServices are the services of stack (all stacks' when empty).
func (a *app) stackServices(ctx context.Context, stack string) ([]stypes.Service, error) {
	cl, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	f := labelStack
	if stack != "" {
		f += "=" + stack
	}
	return cl.Services().List(ctx, stypes.ListOptions{Filters: map[string][]string{"label": {f}}})
}

func (a *app) stackLs(ctx context.Context) error {
	svcs, err := a.stackServices(ctx, "")
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, s := range svcs {
		count[s.Spec.Labels[labelStack]]++
	}
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICES")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%d\n", n, count[n])
	}
	return tw.Flush()
}

func (a *app) stackPs(ctx context.Context, stack string, quiet bool) error {
	svcs, err := a.stackServices(ctx, stack)
	if err != nil {
		return err
	}
	if len(svcs) == 0 {
		return fmt.Errorf("nothing found in stack: %s", stack)
	}
	names := map[string]string{}
	var ids []string
	for _, s := range svcs {
		names[s.ID] = s.Spec.Name
		ids = append(ids, s.ID)
	}
	tasks, err := a.cl.Services().Tasks(ctx, stypes.TaskListOptions{Filters: map[string][]string{"service": ids}})
	if err != nil {
		return err
	}
	nodes := map[string]string{}
	if ns, err := a.cl.Cluster().NodeList(ctx); err == nil {
		for _, n := range ns {
			nodes[n.ID] = n.Hostname
		}
	}
	sort.Slice(tasks, func(i, j int) bool {
		ni, nj := names[tasks[i].ServiceID], names[tasks[j].ServiceID]
		if ni != nj {
			return ni < nj
		}
		if tasks[i].Slot != tasks[j].Slot {
			return tasks[i].Slot < tasks[j].Slot
		}
		return tasks[i].CreatedAt.After(tasks[j].CreatedAt)
	})
	if quiet {
		for _, t := range tasks {
			fmt.Fprintln(a.env.Stdout, t.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tIMAGE\tNODE\tDESIRED STATE\tCURRENT STATE\tERROR")
	for _, t := range tasks {
		name := names[t.ServiceID]
		if t.Slot > 0 {
			name += "." + strconv.Itoa(t.Slot)
		} else {
			name += "." + nodes[t.NodeID]
		}
		image := ""
		if t.Spec.ContainerSpec != nil {
			image = t.Spec.ContainerSpec.Image
		}
		id := t.ID
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s ago\t%s\n", id, name, image, nodes[t.NodeID],
			capitalize(t.DesiredState), capitalize(t.Status.State), time.Since(t.Status.Timestamp).Round(time.Second), t.Status.Err)
	}
	return tw.Flush()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (a *app) stackRm(ctx context.Context, stack string) error {
	svcs, err := a.stackServices(ctx, stack)
	if err != nil {
		return err
	}
	nets, err := a.cl.Networks().List(ctx, map[string][]string{"label": {labelStack + "=" + stack}})
	if err != nil {
		return err
	}
	if len(svcs) == 0 && len(nets) == 0 {
		fmt.Fprintf(a.env.Stderr, "Nothing found in stack: %s\n", stack)
		return nil
	}
	for _, s := range svcs {
		fmt.Fprintf(a.env.Stdout, "Removing service %s\n", s.Spec.Name)
		if err := a.cl.Services().Remove(ctx, s.ID); err != nil {
			return err
		}
	}
	// A network goes once the removed services' tasks have left it.
	for _, n := range nets {
		fmt.Fprintf(a.env.Stdout, "Removing network %s\n", n.Name)
		deadline := time.Now().Add(time.Minute)
		for {
			err := a.cl.Networks().Remove(ctx, n.ID)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}
