package image

import (
	"slices"
	"testing"
)

// TestDigestsFollowReferenceFilter: with a reference filter, an image's
// repository digests are kept only for matching repositories, as its tags
// are (docker images busybox showed a `saved:<none>` row for a loaded copy
// of busybox that shared its manifest).
func TestDigestsFollowReferenceFilter(t *testing.T) {
	ds := []string{"busybox@sha256:aaaa", "saved-img@sha256:aaaa", "reg.example/team/app@sha256:bbbb"}
	for _, tc := range []struct {
		refs []string
		want []string
	}{
		{nil, ds},
		{[]string{"busybox"}, []string{"busybox@sha256:aaaa"}},
		{[]string{"saved-*"}, []string{"saved-img@sha256:aaaa"}},
		{[]string{"reg.example/team/*"}, []string{"reg.example/team/app@sha256:bbbb"}},
		{[]string{"nothing"}, nil},
	} {
		f := &filters{references: tc.refs}
		if got := f.digests(ds); !slices.Equal(got, tc.want) {
			t.Errorf("references %q: digests %q, want %q", tc.refs, got, tc.want)
		}
	}
}
