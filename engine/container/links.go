package container

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Legacy links (--link NAME[:ALIAS]), as dockerd has them.
//
// On the default bridge network a link makes the target (the child) known
// to the linking container (the parent) under ALIAS: the child must exist
// at create and run when the parent starts; the parent's /etc/hosts gets
// "IP ALIAS HOSTNAME NAME" and its environment ALIAS_NAME, ALIAS_PORT_…
// and ALIAS_ENV_… from the child's. The child is also known as
// /PARENT/ALIAS: a name that finds it (inspect PARENT/ALIAS) and that List
// shows among its Names. The link holds the child's ID, so renaming either
// side keeps it; removing either side, or rm --link, removes it.
//
// On a user-defined network a link is a DNS alias that only the parent
// resolves (ALIAS → NAME on its network): nothing is checked at create.

// link is one legacy link of a parent container.
type link struct {
	alias   string // without a leading "/"
	childID string
}

// linkEnvAnnotation is the spec annotation that lists the environment
// entries the last start added for the container's links, so the next
// start replaces them.
const linkEnvAnnotation = "berth.link-env"

// validAlias is a link's alias: a container name of one character or more.
var validAlias = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// parseLink is dockerd's opts.ParseLink: NAME[:ALIAS], or the form inspect
// shows, /NAME:/PARENT/ALIAS.
func parseLink(v string) (name, alias string, err error) {
	if v == "" {
		return "", "", fmt.Errorf("empty string specified for links: %w", errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(v, ":")
	switch {
	case len(parts) > 2:
		return "", "", fmt.Errorf("bad format for links: %s: %w", v, errdefs.ErrInvalidArgument)
	case len(parts) == 1:
		name, alias = v, v
	case strings.HasPrefix(parts[0], "/"):
		_, alias = path.Split(parts[1])
		name = parts[0][1:]
	default:
		name, alias = parts[0], parts[1]
	}
	name, alias = strings.TrimPrefix(name, "/"), strings.TrimPrefix(alias, "/")
	if name == "" || !validAlias.MatchString(alias) {
		return "", "", fmt.Errorf("invalid link %q: want NAME[:ALIAS], ALIAS of [a-zA-Z0-9][a-zA-Z0-9_.-]: %w", v, errdefs.ErrInvalidArgument)
	}
	return name, alias, nil
}

// legacyLinks reports whether cfg's links are legacy ones (the default
// bridge network, or none) rather than DNS aliases of a user-defined network.
func (s *Service) legacyLinks(cfg *containertypes.Config) bool {
	mode := s.networkMode(cfg)
	return mode == NetworkBridge || mode == NetworkNone
}

// resolveLinks checks cfg.Links at create and turns legacy ones into
// "ID:ALIAS" (see Config.Links). It returns the links to register.
func (s *Service) resolveLinks(ctx context.Context, cfg *containertypes.Config) ([]link, error) {
	if len(cfg.Links) == 0 {
		return nil, nil
	}
	mode := s.networkMode(cfg)
	switch {
	case mode == NetworkHost:
		return nil, fmt.Errorf("conflicting options: host type networking can't be used with links. This would result in undefined behavior: %w", errdefs.ErrInvalidArgument)
	case strings.HasPrefix(mode, "container:"):
		return nil, fmt.Errorf("conflicting options: container type network can't be used with links. This would result in undefined behavior: %w", errdefs.ErrInvalidArgument)
	}
	var out []link
	var stored []string
	for _, l := range cfg.Links {
		name, alias, err := parseLink(l)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o link) bool { return o.alias == alias }) {
			return nil, fmt.Errorf("invalid links: the alias %q is given twice: %w", alias, errdefs.ErrInvalidArgument)
		}
		if !s.legacyLinks(cfg) {
			out = append(out, link{alias: alias})
			stored = append(stored, name+":"+alias)
			continue
		}
		child, err := s.lookup(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				err = fmt.Errorf("%s: %w", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrNotFound.Error()), errdefs.ErrInvalidArgument)
			}
			return nil, fmt.Errorf("could not get container for %s: %w", name, err)
		}
		// A child in another container's network is linked through it.
		for range 10 {
			_, ccfg, err := s.load(ctx, child.id)
			if err != nil {
				return nil, fmt.Errorf("could not get container for %s: %w", name, err)
			}
			cmode := s.networkMode(ccfg)
			if cmode == NetworkHost {
				return nil, fmt.Errorf("conflicting options: host type networking can't be used with links. This would result in undefined behavior: %w", errdefs.ErrInvalidArgument)
			}
			owner, ok := strings.CutPrefix(cmode, "container:")
			if !ok {
				break
			}
			if child, err = s.lookup(owner); err != nil {
				return nil, fmt.Errorf("could not get container for %s: %w", owner, err)
			}
		}
		out = append(out, link{alias: alias, childID: child.id})
		stored = append(stored, child.id+":"+alias)
	}
	cfg.Links = stored
	return out, nil
}

// storedLinks reads the legacy links of a stored config ("ID:ALIAS").
func (s *Service) storedLinks(cfg *containertypes.Config) []link {
	if !s.legacyLinks(cfg) {
		return nil
	}
	var out []link
	for _, l := range cfg.Links {
		if id, alias, ok := strings.Cut(l, ":"); ok && id != "" && alias != "" {
			out = append(out, link{alias: alias, childID: id})
		}
	}
	return out
}

// registerLinks records a parent's legacy links. The caller holds s.mu.
func (s *Service) registerLinksLocked(parentID string, links []link) {
	var kept []link
	for _, l := range links {
		if l.childID != "" {
			kept = append(kept, l)
		}
	}
	if len(kept) > 0 {
		s.links[parentID] = kept
	} else {
		delete(s.links, parentID)
	}
}

// lookupLinkLocked finds the child of a link name, PARENT/ALIAS. The caller
// holds s.mu.
func (s *Service) lookupLinkLocked(ref string) (*record, bool) {
	parent, alias, ok := strings.Cut(strings.TrimPrefix(ref, "/"), "/")
	if !ok {
		return nil, false
	}
	pid, ok := s.names[parent]
	if !ok {
		return nil, false
	}
	for _, l := range s.links[pid] {
		if l.alias == alias {
			r, ok := s.records[l.childID]
			return r, ok
		}
	}
	return nil, false
}

// linkNames are the names a container has as the child of links,
// /PARENT/ALIAS, sorted.
func (s *Service) linkNames(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for pid, links := range s.links {
		p, ok := s.records[pid]
		if !ok {
			continue
		}
		for _, l := range links {
			if l.childID == id {
				out = append(out, "/"+p.name+"/"+l.alias)
			}
		}
	}
	sort.Strings(out)
	return out
}

// showLinks renders a parent's legacy links as Inspect shows them, dockerd's
// "/CHILD:/PARENT/ALIAS" under the current names.
func (s *Service) showLinks(cfg *containertypes.Config, id string) []string {
	if !s.legacyLinks(cfg) {
		return cfg.Links
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	p, ok := s.records[id]
	if !ok {
		return nil
	}
	for _, l := range s.links[id] {
		if c, ok := s.records[l.childID]; ok {
			out = append(out, "/"+c.name+":/"+p.name+"/"+l.alias)
		}
	}
	return out
}

// unlinkRemoved drops the links of a container being removed: its own and
// those that name it as the child (their parents' configs are updated).
func (s *Service) unlinkRemoved(ctx context.Context, id string) {
	s.mu.Lock()
	delete(s.links, id)
	var parents []string
	for pid, links := range s.links {
		kept := slices.DeleteFunc(slices.Clone(links), func(l link) bool { return l.childID == id })
		if len(kept) != len(links) {
			s.registerLinksLocked(pid, kept)
			parents = append(parents, pid)
		}
	}
	s.mu.Unlock()
	for _, pid := range parents {
		if err := s.storeLinks(ctx, pid); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("removing the links to a removed container", "parent", pid, "child", id, "err", err)
		}
	}
}

// removeLink is rm --link: it removes the link PARENT/ALIAS, not a container.
func (s *Service) removeLink(ctx context.Context, ref string) error {
	name := strings.TrimPrefix(ref, "/")
	parent, alias, ok := strings.Cut(name, "/")
	if !ok {
		return fmt.Errorf("Conflict, cannot remove the default link name of the container: %w", errdefs.ErrConflict)
	}
	p, err := s.lookup(parent)
	if err != nil {
		return fmt.Errorf("Cannot get parent /%s for link name /%s: %w", parent, name, err)
	}
	s.mu.Lock()
	links := s.links[p.id]
	kept := slices.DeleteFunc(slices.Clone(links), func(l link) bool { return l.alias == alias })
	if len(kept) == len(links) {
		s.mu.Unlock()
		return fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	s.registerLinksLocked(p.id, kept)
	s.mu.Unlock()
	return s.storeLinks(ctx, p.id)
}

// storeLinks writes a parent's current legacy links into its stored config.
func (s *Service) storeLinks(ctx context.Context, id string) error {
	p := s.recordByID(id)
	if p == nil {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	p.op.Lock()
	defer p.op.Unlock()
	_, cfg, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	cfg.Links = nil
	for _, l := range s.links[id] {
		cfg.Links = append(cfg.Links, l.childID+":"+l.alias)
	}
	s.mu.Unlock()
	ext, err := typeurl.MarshalAny(cfg)
	if err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, containers.Container{
		ID:         id,
		Extensions: map[string]typeurl.Any{extConfig: ext},
	}, "extensions."+extConfig)
	return err
}

// startLinks prepares a parent's legacy links at start: every child must
// run on the default bridge network; its address goes into cfg.ExtraHosts
// (the in-memory copy the network setup writes /etc/hosts from) and the
// link's variables into the spec's environment (stored in c).
func (s *Service) startLinks(ctx context.Context, c *containers.Container, cfg *containertypes.Config, parentName string) error {
	s.mu.Lock()
	links := slices.Clone(s.links[c.ID])
	s.mu.Unlock()
	var env []string
	if s.networkMode(cfg) == NetworkBridge {
		for _, l := range links {
			hostLine, lenv, err := s.linkedChild(ctx, l, parentName)
			if err != nil {
				return err
			}
			cfg.ExtraHosts = append(cfg.ExtraHosts, hostLine)
			env = append(env, lenv...)
		}
	}
	return s.setLinkEnv(ctx, c, env)
}

// updateLinkParents rewrites the /etc/hosts of the running containers
// linked to id on the default bridge, after id started there with a
// (perhaps new) address, as dockerd does.
func (s *Service) updateLinkParents(ctx context.Context, id string) {
	s.mu.Lock()
	var parents []string
	for pid, links := range s.links {
		if slices.ContainsFunc(links, func(l link) bool { return l.childID == id }) {
			parents = append(parents, pid)
		}
	}
	s.mu.Unlock()
	for _, pid := range parents {
		if err := s.refreshLinkHosts(ctx, pid); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("updating the hosts of a linked container", "id", pid, "child", id, "err", err)
		}
	}
}

// refreshLinkHosts renders a running parent's /etc/hosts again with its
// children's current addresses; a child that does not run is left out.
func (s *Service) refreshLinkHosts(ctx context.Context, id string) error {
	p := s.recordByID(id)
	if p == nil || s.livePID(ctx, id) == 0 {
		return nil
	}
	_, cfg, err := s.load(ctx, id)
	if err != nil || s.networkMode(cfg) != NetworkBridge {
		return err
	}
	p.mu.Lock()
	parentName := p.name
	p.mu.Unlock()
	s.mu.Lock()
	links := slices.Clone(s.links[id])
	s.mu.Unlock()
	hosts := slices.Clone(cfg.ExtraHosts)
	for _, l := range links {
		if line, _, err := s.linkedChild(ctx, l, parentName); err == nil {
			hosts = append(hosts, line)
		}
	}
	sb, err := s.opts.Networks.SetExtraHosts(ctx, id, hosts)
	if err != nil {
		return err
	}
	return s.writeNetworkFiles(id, sb)
}

// linkedChild is one link's /etc/hosts entry ("NAMES:IP") and environment.
func (s *Service) linkedChild(ctx context.Context, l link, parentName string) (string, []string, error) {
	child := s.recordByID(l.childID)
	if child == nil {
		return "", nil, fmt.Errorf("the container linked as %s no longer exists: %w", l.alias, errdefs.ErrFailedPrecondition)
	}
	child.mu.Lock()
	childName := child.name
	child.mu.Unlock()
	fullName := "/" + parentName + "/" + l.alias
	if s.livePID(ctx, child.id) == 0 {
		return "", nil, fmt.Errorf("Cannot link to a non running container: /%s AS %s: %w", childName, fullName, errdefs.ErrFailedPrecondition)
	}
	cc, ccfg, err := s.load(ctx, child.id)
	if err != nil {
		return "", nil, err
	}
	var ip string
	if sb, err := s.opts.Networks.Sandbox(ctx, child.id); err == nil && sb != nil {
		if ep := sb.Endpoint(NetworkBridge); ep != nil && ep.IPv4.IsValid() {
			ip = ep.IPv4.Addr().String()
		}
	}
	if ip == "" {
		return "", nil, fmt.Errorf("Cannot link to /%s, as it does not belong to the default network: %w", childName, errdefs.ErrFailedPrecondition)
	}
	names := l.alias + " " + hostnameOf(ccfg, child.id)
	if l.alias != childName {
		names += " " + childName
	}
	return names + ":" + ip, linkEnv(fullName, ip, s.childEnv(cc), s.childPorts(ctx, cc, ccfg)), nil
}

// childEnv is a child's environment as its Config.Env is in dockerd (the
// image's and the user's): without the variables berth adds at run time.
func (s *Service) childEnv(c containers.Container) []string {
	sp, err := specOf(c)
	if err != nil || sp.Process == nil {
		return nil
	}
	added := map[string]bool{}
	for _, e := range linkEnvOf(sp) {
		added[e] = true
	}
	var out []string
	for _, e := range sp.Process.Env {
		name, _, _ := strings.Cut(e, "=")
		if added[e] || name == "HOSTNAME" || name == "TERM" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// childPorts are a child's exposed ports (the image's, --expose, -p), "80/tcp".
func (s *Service) childPorts(ctx context.Context, c containers.Container, cfg *containertypes.Config) []string {
	ports := slices.Clone(cfg.ExposedPorts)
	if img, err := s.opts.Images.ResolveForRun(ctx, c.Labels[labelImageID]); err == nil {
		for p := range img.Config.Config.ExposedPorts {
			ports = append(ports, p)
		}
	}
	for _, b := range cfg.PortBindings {
		proto := b.Proto
		if proto == "" {
			proto = "tcp"
		}
		ports = append(ports, strconv.Itoa(int(b.ContainerPort))+"/"+proto)
	}
	for i, p := range ports {
		if !strings.Contains(p, "/") {
			ports[i] = p + "/tcp"
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

type linkPort struct {
	port  int
	proto string
}

// linkEnv is dockerd's daemon/links ToEnv: the variables of the link
// fullName (/PARENT/ALIAS) to a child at ip.
func linkEnv(fullName, ip string, childEnv, exposed []string) []string {
	alias := strings.ReplaceAll(strings.ToUpper(path.Base(fullName)), "-", "_")
	var ports []linkPort
	for _, e := range exposed {
		p, proto, _ := strings.Cut(e, "/")
		n, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		ports = append(ports, linkPort{n, strings.ToLower(proto)})
	}
	// TCP first, then by protocol and port, as dockerd's withTCPPriority.
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.proto == b.proto {
			return a.port < b.port
		}
		if a.proto == "tcp" || b.proto == "tcp" {
			return a.proto == "tcp"
		}
		return a.proto < b.proto
	})
	var env []string
	var start, end linkPort
	for i, p := range ports {
		if i == 0 {
			start, end = p, p
			env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%d", alias, p.proto, ip, p.port))
		}
		prefix := fmt.Sprintf("%s_PORT_%d_%s", alias, p.port, strings.ToUpper(p.proto))
		env = append(env,
			fmt.Sprintf("%s=%s://%s:%d", prefix, p.proto, ip, p.port),
			fmt.Sprintf("%s_ADDR=%s", prefix, ip),
			fmt.Sprintf("%s_PORT=%d", prefix, p.port),
			fmt.Sprintf("%s_PROTO=%s", prefix, p.proto))
		if p.port == end.port+1 && p.proto == start.proto {
			end = p
			if i < len(ports)-1 {
				continue
			}
		}
		if end != start {
			prefix = fmt.Sprintf("%s_PORT_%d_%s", alias, start.port, strings.ToUpper(start.proto))
			env = append(env,
				fmt.Sprintf("%s_START=%s://%s:%d", prefix, start.proto, ip, start.port),
				fmt.Sprintf("%s_PORT_START=%d", prefix, start.port),
				fmt.Sprintf("%s_END=%s://%s:%d", prefix, end.proto, ip, end.port),
				fmt.Sprintf("%s_PORT_END=%d", prefix, end.port))
		}
		start, end = p, p
	}
	env = append(env, fmt.Sprintf("%s_NAME=%s", alias, fullName))
	for _, e := range childEnv {
		name, val, ok := strings.Cut(e, "=")
		if !ok || name == "HOME" || name == "PATH" {
			continue
		}
		env = append(env, fmt.Sprintf("%s_ENV_%s=%s", alias, name, val))
	}
	return env
}

func specOf(c containers.Container) (*oci.Spec, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("container %s has no spec: %w", c.ID, errdefs.ErrNotFound)
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return nil, err
	}
	sp, ok := v.(*oci.Spec)
	if !ok {
		return nil, fmt.Errorf("container %s: unexpected spec type %T", c.ID, v)
	}
	return sp, nil
}

func linkEnvOf(sp *oci.Spec) []string {
	var out []string
	if v := sp.Annotations[linkEnvAnnotation]; v != "" {
		_ = json.Unmarshal([]byte(v), &out)
	}
	return out
}

// setLinkEnv replaces the link variables of the container's spec with env;
// the container's own variables win over a link's of the same name, as in
// dockerd. Nothing is written when nothing changes.
func (s *Service) setLinkEnv(ctx context.Context, c *containers.Container, env []string) error {
	sp, err := specOf(*c)
	if err != nil || sp.Process == nil {
		return err
	}
	old := linkEnvOf(sp)
	if len(old) == 0 && len(env) == 0 {
		return nil
	}
	base := slices.Clone(sp.Process.Env)
	for _, e := range old {
		if i := slices.Index(base, e); i >= 0 {
			base = slices.Delete(base, i, i+1)
		}
	}
	has := map[string]bool{}
	for _, e := range base {
		name, _, _ := strings.Cut(e, "=")
		has[name] = true
	}
	var added []string
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		if !has[name] {
			has[name] = true
			added = append(added, e)
		}
	}
	if slices.Equal(old, added) {
		return nil
	}
	sp.Process.Env = append(base, added...)
	if sp.Annotations == nil {
		sp.Annotations = map[string]string{}
	}
	if len(added) == 0 {
		delete(sp.Annotations, linkEnvAnnotation)
	} else {
		b, _ := json.Marshal(added)
		sp.Annotations[linkEnvAnnotation] = string(b)
	}
	if c.Spec, err = typeurl.MarshalAny(sp); err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, *c, "spec")
	return err
}
