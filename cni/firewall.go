package cni

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/google/nftables"
)

// removeLegacyChains deletes the iptables chains (<prefix>-FORWARD,
// -ISOLATION-1, -ISOLATION-2 in filter, -POSTROUTING in nat) and their
// jumps that berth used before its rules moved to its nftables table. It
// looks over netlink first, so a host without them runs no iptables.
func removeLegacyChains(prefix string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return err
	}
	type tc struct{ table, chain string }
	var found []tc
	for _, ch := range chains {
		if (ch.Table.Name == "filter" || ch.Table.Name == "nat") && strings.HasPrefix(ch.Name, prefix+"-") {
			switch strings.TrimPrefix(ch.Name, prefix+"-") {
			case "FORWARD", "ISOLATION-1", "ISOLATION-2", "POSTROUTING":
				found = append(found, tc{ch.Table.Name, ch.Name})
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	var errs []error
	iptables := func(args ...string) error {
		out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	for _, j := range []tc{{"filter", "FORWARD"}, {"nat", "POSTROUTING"}} {
		for _, f := range found {
			if f.table != j.table {
				continue
			}
			for iptables("-t", j.table, "-C", j.chain, "-j", f.chain) == nil {
				if err := iptables("-t", j.table, "-D", j.chain, "-j", f.chain); err != nil {
					errs = append(errs, err)
					break
				}
			}
		}
	}
	for _, f := range found {
		errs = append(errs, iptables("-t", f.table, "-F", f.chain))
	}
	for _, f := range found {
		errs = append(errs, iptables("-t", f.table, "-X", f.chain))
	}
	return errors.Join(errs...)
}
