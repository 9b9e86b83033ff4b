package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitRule(t *testing.T) {
	got := splitRule(`-A POSTROUTING -s 10.88.0.0/16 -m comment --comment "netavark portfw \"x\"" -j NETAVARK-1D8721804F16F`)
	want := []string{"-A", "POSTROUTING", "-s", "10.88.0.0/16", "-m", "comment", "--comment", `netavark portfw "x"`, "-j", "NETAVARK-1D8721804F16F"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// The clean-up removes only what a peer added during the run: never a
// rule or chain that was there before, nor another engine's (berth's
// BERTH-*/CNI-* chains, a rule naming another subnet).
func TestPlanTableCleanup(t *testing.T) {
	before := `*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
COMMIT
`
	after := `*nat
:PREROUTING ACCEPT [3:180]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:DOCKER - [0:0]
:BTX-POSTROUTING - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 10.201.5.0/24 ! -o bd123 -j MASQUERADE
-A POSTROUTING -s 10.99.0.0/24 -j BTX-POSTROUTING
-A DOCKER -i bd123 -j RETURN
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:DOCKER-USER - [0:0]
:NETAVARK_FORWARD - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j NETAVARK_FORWARD
-A DOCKER-USER -j RETURN
COMMIT
`
	deletes, chains := planTableCleanup(before, after, []string{"bd123", "10.201.5."})
	var got []string
	for _, d := range deletes {
		got = append(got, strings.Join(d, " "))
	}
	want := []string{
		"-t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
		"-t nat -D POSTROUTING -s 10.201.5.0/24 ! -o bd123 -j MASQUERADE",
		"-t filter -D FORWARD -j NETAVARK_FORWARD",
		// A new rule in a peer chain that existed before: deleted by
		// itself (the chain stays).
		"-t filter -D DOCKER-USER -j RETURN",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deletes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantChains := [][2]string{{"nat", "DOCKER"}, {"filter", "NETAVARK_FORWARD"}}
	if !reflect.DeepEqual(chains, wantChains) {
		t.Fatalf("chains %v, want %v", chains, wantChains)
	}
}

func TestSummary(t *testing.T) {
	s := Series{Samples: []float64{5, 1, 4, 2, 3, 10, 6, 7, 8, 9}}
	st := s.Summary()
	if st.N != 10 || st.Min != 1 || st.Max != 10 || st.Median != 5.5 || st.P90 != 9 {
		t.Fatalf("%+v", st)
	}
	one := Series{Samples: []float64{42}}
	if st := one.Summary(); st.Median != 42 || st.P90 != 42 || st.Q1 != 42 {
		t.Fatalf("%+v", st)
	}
}

// Phases come out in the order of the marks' median offsets and add up to
// the median total, even when two marks swap places in some runs.
func TestSummarizePhases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	runs := [][]mark{
		{{"CLI exec", at(0)}, {"a", at(10)}, {"b", at(12)}, {"CLI exit", at(30)}},
		{{"CLI exec", at(0)}, {"b", at(11)}, {"a", at(12)}, {"CLI exit", at(32)}},
		{{"CLI exec", at(0)}, {"a", at(9)}, {"b", at(14)}, {"CLI exit", at(31)}},
	}
	bd := summarizePhases("x", runs)
	var names []string
	var sum float64
	for _, p := range bd.Phases {
		names = append(names, p.From+">"+p.To)
		sum += p.Ms
	}
	if strings.Join(names, " ") != "CLI exec>a a>b b>CLI exit" {
		t.Fatalf("phases %v", names)
	}
	if bd.TotalMs != 31 || sum != 31 {
		t.Fatalf("total %v, sum of phases %v", bd.TotalMs, sum)
	}
}

func TestVerdict(t *testing.T) {
	r := &ScenarioResult{Unit: "ms", Target: &Target{Value: 100}, Series: []*Series{{Engine: "berth", Samples: []float64{150}}}}
	if v := verdict(r); !strings.Contains(v, "missed** by 50.0 ms (50% over)") {
		t.Fatal(v)
	}
	r = &ScenarioResult{Unit: "kB", Target: &Target{Peer: "docker", Ratio: 0.5}, Series: []*Series{
		{Engine: "berth", Samples: []float64{40}}, {Engine: "docker", Samples: []float64{100}}}}
	if v := verdict(r); !strings.HasPrefix(v, "**met**, 10 kB under") {
		t.Fatal(v)
	}
}
