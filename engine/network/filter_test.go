package network_test

import (
	"testing"

	"github.com/berthproject/berth/engine/network"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Several label filters must all match, as Docker's (docker compose
// selects a project's networks by label).
func TestMatchLabelsAllMatch(t *testing.T) {
	n := &networktypes.Network{Name: "n", Labels: map[string]string{"p": "one", "k": "x"}}
	for _, c := range []struct {
		labels []string
		want   bool
	}{
		{[]string{"p=one", "k=x"}, true},
		{[]string{"p=two", "k=x"}, false},
		{[]string{"p=one", "missing"}, false},
	} {
		ok, err := network.Match(n, map[string][]string{"label": c.labels})
		if err != nil || ok != c.want {
			t.Errorf("label filters %v: match = %v, %v; want %v", c.labels, ok, err, c.want)
		}
	}
}
