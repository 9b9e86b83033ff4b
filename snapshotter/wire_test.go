//go:build linux

package snapshotter

import (
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"google.golang.org/protobuf/reflect/protoreflect"

	api "github.com/berthproject/berth/snapshotter/internal/snapshotsapi"
)

// TestWireMatchesContainerd checks berth's copy of the Snapshots messages
// against containerd's, field by field (number, name, kind, cardinality,
// the type of a message or enum field by its short name), so that the
// ttrpc server decodes what containerd's client sends. A containerd API
// upgrade that changes a message fails here: copy its snapshots.proto
// again (snapshotter/internal/snapshotsapi).
func TestWireMatchesContainerd(t *testing.T) {
	theirs := snapshotsapi.File_services_snapshots_v1_snapshots_proto
	ours := api.File_snapshotsapi_snapshots_proto
	if n, m := theirs.Messages().Len(), ours.Messages().Len(); n != m {
		t.Errorf("containerd has %d messages, berth's copy %d", n, m)
	}
	for i := 0; i < theirs.Messages().Len(); i++ {
		tm := theirs.Messages().Get(i)
		om := ours.Messages().ByName(tm.Name())
		if om == nil {
			t.Errorf("message %s missing from berth's copy", tm.Name())
			continue
		}
		compareFields(t, tm, om)
	}
	ts, osv := theirs.Services().Get(0), ours.Services().Get(0)
	if string(ts.FullName()) != ServiceName {
		t.Errorf("containerd's service is %s, berth serves %s", ts.FullName(), ServiceName)
	}
	for i := 0; i < ts.Methods().Len(); i++ {
		tmeth := ts.Methods().Get(i)
		ometh := osv.Methods().ByName(tmeth.Name())
		if ometh == nil {
			t.Errorf("method %s missing from berth's copy", tmeth.Name())
			continue
		}
		if tmeth.Input().Name() != ometh.Input().Name() || tmeth.Output().Name() != ometh.Output().Name() ||
			tmeth.IsStreamingServer() != ometh.IsStreamingServer() {
			t.Errorf("method %s differs", tmeth.Name())
		}
	}
	if ts.Methods().Len() != osv.Methods().Len() {
		t.Errorf("containerd has %d methods, berth's copy %d", ts.Methods().Len(), osv.Methods().Len())
	}
}

func compareFields(t *testing.T, theirs, ours protoreflect.MessageDescriptor) {
	t.Helper()
	if n, m := theirs.Fields().Len(), ours.Fields().Len(); n != m {
		t.Errorf("%s: containerd has %d fields, berth's copy %d", theirs.Name(), n, m)
	}
	for i := 0; i < theirs.Fields().Len(); i++ {
		tf := theirs.Fields().Get(i)
		of := ours.Fields().ByNumber(tf.Number())
		if of == nil {
			t.Errorf("%s.%s (%d) missing from berth's copy", theirs.Name(), tf.Name(), tf.Number())
			continue
		}
		if tf.Name() != of.Name() || tf.Kind() != of.Kind() || tf.Cardinality() != of.Cardinality() || tf.IsMap() != of.IsMap() {
			t.Errorf("%s.%s differs: %v %v %v, berth's %s %v %v", theirs.Name(), tf.Name(), tf.Kind(), tf.Cardinality(), tf.IsMap(), of.Name(), of.Kind(), of.Cardinality())
		}
		switch {
		case tf.IsMap():
			compareFields(t, tf.Message(), of.Message())
		case tf.Message() != nil && tf.Message().Name() != of.Message().Name():
			t.Errorf("%s.%s is a %s, berth's a %s", theirs.Name(), tf.Name(), tf.Message().FullName(), of.Message().FullName())
		case tf.Enum() != nil:
			if tf.Enum().Values().Len() != of.Enum().Values().Len() {
				t.Errorf("%s.%s: enum values differ", theirs.Name(), tf.Name())
			}
			for j := 0; j < tf.Enum().Values().Len(); j++ {
				tv := tf.Enum().Values().Get(j)
				if ov := of.Enum().Values().ByNumber(tv.Number()); ov == nil || ov.Name() != tv.Name() {
					t.Errorf("%s.%s: enum value %s differs", theirs.Name(), tf.Name(), tv.Name())
				}
			}
		}
	}
}
