// GC: the clean-up after a crash.

package cni

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthproject/berth/cni/netns"
	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
)

func (m *Manager) GC(ctx context.Context, valid []string) error {
	m.settle()
	keep := map[string]bool{}
	for _, id := range valid {
		keep[id] = true
	}
	var errs []error
	m.mu.Lock()
	var stale []string
	for id := range m.sandboxes {
		if !keep[id] {
			stale = append(stale, id)
		}
	}
	m.mu.Unlock()
	if entries, err := os.ReadDir(m.cfg.sandboxesDir()); err == nil {
		for _, e := range entries {
			if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && !keep[id] && !slices.Contains(stale, id) && isValidName(id) {
				stale = append(stale, id)
			}
		}
	}
	for _, id := range stale {
		errs = append(errs, m.Teardown(ctx, id))
	}

	// libcni GC per network: DEL of every cached attachment not named valid.
	cached, err := m.cni.GetCachedAttachments("")
	if err != nil {
		errs = append(errs, err)
	}
	m.mu.Lock()
	lists := map[string]*libcni.NetworkConfigList{}
	for name, n := range m.networks {
		lists[name] = n.list
	}
	m.mu.Unlock()
	validAtt := map[string][]cnitypes.GCAttachment{}
	for _, a := range cached {
		if keep[a.ContainerID] {
			validAtt[a.Network] = append(validAtt[a.Network], cnitypes.GCAttachment{ContainerID: a.ContainerID, IfName: a.IfName})
		} else if _, known := lists[a.Network]; !known {
			errs = append(errs, m.delCached(ctx, a)) // network gone: use the cached config
		}
	}
	for name, list := range lists {
		errs = append(errs, m.cni.GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: validAtt[name]}))
	}

	// Pinned netns files of containers that no longer exist.
	names, err := netns.List(m.cfg.netnsDir())
	errs = append(errs, err)
	for _, id := range names {
		if !keep[id] {
			errs = append(errs, netns.Delete(filepath.Join(m.cfg.netnsDir(), id)))
		}
	}
	errs = append(errs, m.syncFirewall(), m.prunePorts())
	return errors.Join(errs...)
}

// prunePorts deletes the published-port elements of berth's table that no
// known sandbox owns: a crash between adding them and writing the state.
func (m *Manager) prunePorts() error {
	keep := map[string]bool{}
	m.mu.Lock()
	for _, sb := range m.sandboxes {
		if sb.PortsNFT {
			for _, p := range sb.Ports {
				for _, k := range m.fw.elemKeys(p, sb.ip6().IsValid()) {
					keep[k] = true
				}
			}
		}
	}
	m.mu.Unlock()
	return m.fw.prune(keep)
}
