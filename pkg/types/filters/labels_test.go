package filters

import "testing"

func TestLabels(t *testing.T) {
	l := map[string]string{"team": "blue", "keep": ""}
	for _, tc := range []struct {
		want, not []string
		ok        bool
	}{
		{nil, nil, true},
		{[]string{"team"}, nil, true},
		{[]string{"team=blue", "keep"}, nil, true},
		{[]string{"team=red"}, nil, false},
		{[]string{"other"}, nil, false},
		{nil, []string{"keep"}, false},
		{nil, []string{"team=red"}, true},
		{nil, []string{"team=blue"}, false},
		{[]string{"team"}, []string{"other"}, true},
	} {
		if got := Labels(l, tc.want, tc.not); got != tc.ok {
			t.Errorf("Labels(%v, %v, %v) = %v, want %v", l, tc.want, tc.not, got, tc.ok)
		}
	}
}
