package cni

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// Network and container names: 1 to 128 of [a-zA-Z0-9_.-], the first
// alphanumeric, no "..".
func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"bridge": true, "my_net.1-a": true, "0": true, strings.Repeat("a", 128): true,
		"": false, "-x": false, "_x": false, ".x": false, "a/b": false, "a b": false,
		"a..b": false, strings.Repeat("a", 129): false, "é": false,
	} {
		if got := isValidName(name); got != want {
			t.Errorf("isValidName(%q) = %v, want %v", name, got, want)
		}
	}
	// The same rule as a regular expression, on random names.
	re := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)
	const chars = "aZ09_.-/ \x00é"
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.IntN(132))
		for j := range b {
			b[j] = chars[r.IntN(len(chars))]
		}
		name := string(b)
		if want := re.MatchString(name) && !strings.Contains(name, ".."); isValidName(name) != want {
			t.Fatalf("isValidName(%q) = %v, want %v", name, !want, want)
		}
	}
}
