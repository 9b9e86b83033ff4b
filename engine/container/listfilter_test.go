package container

import (
	"testing"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Several label filters must all match, as Docker's: docker compose lists
// one project's containers with label=project=P and label=oneoff=False,
// and an OR would hand it every project's containers.
func TestListFilterLabelsAllMatch(t *testing.T) {
	s := containertypes.Summary{ID: "abc", Names: []string{"/x"}, Labels: map[string]string{"p": "one", "oneoff": "False"}}
	for _, c := range []struct {
		labels []string
		want   bool
	}{
		{[]string{"p=one", "oneoff=False"}, true},
		{[]string{"p=two", "oneoff=False"}, false},
		{[]string{"p", "oneoff"}, true},
		{[]string{"p=one", "missing"}, false},
	} {
		lf, err := parseListFilters(map[string][]string{"label": c.labels})
		if err != nil {
			t.Fatal(err)
		}
		if got := lf.match(s); got != c.want {
			t.Errorf("label filters %v: match = %v, want %v", c.labels, got, c.want)
		}
	}
}
