package taskwire_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	eventsapi "github.com/containerd/containerd/api/events"
	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskv2 "github.com/containerd/containerd/api/runtime/task/v2"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	apitypes "github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// pair is one of the shim's messages and the generated type it stands for.
// missing names the generated fields the shim deliberately does not carry.
type pair struct {
	ours    any
	theirs  proto.Message
	missing []string
}

func pairs() []pair {
	ps := []pair{
		// types
		{&tw.Mount{}, &apitypes.Mount{}, nil},
		{&tw.ProcessInfo{}, &task.ProcessInfo{}, nil},
		{&tw.Any{}, &anypb.Any{}, nil},
		{&tw.Empty{}, &emptypb.Empty{}, nil},
		// events and their forwarding
		{&tw.TaskCreate{}, &eventsapi.TaskCreate{}, nil},
		{&tw.TaskStart{}, &eventsapi.TaskStart{}, nil},
		{&tw.TaskDelete{}, &eventsapi.TaskDelete{}, nil},
		{&tw.TaskExit{}, &eventsapi.TaskExit{}, nil},
		{&tw.TaskOOM{}, &eventsapi.TaskOOM{}, nil},
		{&tw.TaskExecAdded{}, &eventsapi.TaskExecAdded{}, nil},
		{&tw.TaskExecStarted{}, &eventsapi.TaskExecStarted{}, nil},
		{&tw.TaskPaused{}, &eventsapi.TaskPaused{}, nil},
		{&tw.TaskResumed{}, &eventsapi.TaskResumed{}, nil},
		{&tw.Envelope{}, &apitypes.Envelope{}, nil},
		{&tw.ForwardRequest{}, &ttrpcevents.ForwardRequest{}, nil},
		// start, delete and -info actions, runtime options
		{&tw.BootstrapParams{}, &bootapi.BootstrapParams{}, []string{"Extensions"}},
		{&tw.BootstrapResult{}, &bootapi.BootstrapResult{}, []string{"Capabilities"}},
		{&tw.RuntimeInfo{}, &apitypes.RuntimeInfo{}, nil},
		{&tw.RuntimeVersion{}, &apitypes.RuntimeVersion{}, nil},
		{&tw.Options{}, &options.Options{}, nil},
		{&tw.ProcessDetails{}, &options.ProcessDetails{}, nil},
		// Stats
		{&tw.MetricsV1{}, &v1.Metrics{}, []string{"Rdma", "Network", "CgroupStats", "MemoryOomControl"}},
		{&tw.MetricsV2{}, &v2.Metrics{}, []string{"Rdma", "MemoryEvents", "Network", "PSI"}},
	}
	// The task service: every request and response of v2 and v3.
	for _, m := range []struct {
		ours   any
		v2, v3 proto.Message
	}{
		{&tw.CreateTaskRequest{}, &taskv2.CreateTaskRequest{}, &taskv3.CreateTaskRequest{}},
		{&tw.CreateTaskResponse{}, &taskv2.CreateTaskResponse{}, &taskv3.CreateTaskResponse{}},
		{&tw.DeleteRequest{}, &taskv2.DeleteRequest{}, &taskv3.DeleteRequest{}},
		{&tw.DeleteResponse{}, &taskv2.DeleteResponse{}, &taskv3.DeleteResponse{}},
		{&tw.ExecProcessRequest{}, &taskv2.ExecProcessRequest{}, &taskv3.ExecProcessRequest{}},
		{&tw.ResizePtyRequest{}, &taskv2.ResizePtyRequest{}, &taskv3.ResizePtyRequest{}},
		{&tw.StateRequest{}, &taskv2.StateRequest{}, &taskv3.StateRequest{}},
		{&tw.StateResponse{}, &taskv2.StateResponse{}, &taskv3.StateResponse{}},
		{&tw.KillRequest{}, &taskv2.KillRequest{}, &taskv3.KillRequest{}},
		{&tw.CloseIORequest{}, &taskv2.CloseIORequest{}, &taskv3.CloseIORequest{}},
		{&tw.PidsRequest{}, &taskv2.PidsRequest{}, &taskv3.PidsRequest{}},
		{&tw.PidsResponse{}, &taskv2.PidsResponse{}, &taskv3.PidsResponse{}},
		{&tw.CheckpointTaskRequest{}, &taskv2.CheckpointTaskRequest{}, &taskv3.CheckpointTaskRequest{}},
		{&tw.UpdateTaskRequest{}, &taskv2.UpdateTaskRequest{}, &taskv3.UpdateTaskRequest{}},
		{&tw.StartRequest{}, &taskv2.StartRequest{}, &taskv3.StartRequest{}},
		{&tw.StartResponse{}, &taskv2.StartResponse{}, &taskv3.StartResponse{}},
		{&tw.WaitRequest{}, &taskv2.WaitRequest{}, &taskv3.WaitRequest{}},
		{&tw.WaitResponse{}, &taskv2.WaitResponse{}, &taskv3.WaitResponse{}},
		{&tw.StatsRequest{}, &taskv2.StatsRequest{}, &taskv3.StatsRequest{}},
		{&tw.StatsResponse{}, &taskv2.StatsResponse{}, &taskv3.StatsResponse{}},
		{&tw.ConnectRequest{}, &taskv2.ConnectRequest{}, &taskv3.ConnectRequest{}},
		{&tw.ConnectResponse{}, &taskv2.ConnectResponse{}, &taskv3.ConnectResponse{}},
		{&tw.ShutdownRequest{}, &taskv2.ShutdownRequest{}, &taskv3.ShutdownRequest{}},
		{&tw.PauseRequest{}, &taskv2.PauseRequest{}, &taskv3.PauseRequest{}},
		{&tw.ResumeRequest{}, &taskv2.ResumeRequest{}, &taskv3.ResumeRequest{}},
	} {
		ps = append(ps, pair{m.ours, m.v2, nil}, pair{m.ours, m.v3, nil})
	}
	return ps
}

func name(m any) string { return reflect.TypeOf(m).Elem().String() }

// TestRoundTrip fills every field of each of the shim's messages, encodes
// it, decodes the bytes with the generated type and compares every field by
// name; then encodes the generated message and decodes it with the shim's
// type, which must give the same message back.
func TestRoundTrip(t *testing.T) {
	for _, p := range pairs() {
		t.Run(name(p.ours)+"/"+name(p.theirs), func(t *testing.T) {
			ours := reflect.New(reflect.TypeOf(p.ours).Elem())
			n := uint64(1)
			fill(ours.Elem(), &n)

			b := tw.Marshal(ours.Interface())
			theirs := p.theirs.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, theirs); err != nil {
				t.Fatalf("generated type cannot decode ours: %v", err)
			}
			if len(theirs.ProtoReflect().GetUnknown()) > 0 {
				t.Errorf("fields unknown to %s: %x", name(p.theirs), theirs.ProtoReflect().GetUnknown())
			}
			compare(t, "", ours.Elem(), reflect.ValueOf(theirs).Elem())

			tb, err := proto.Marshal(theirs)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(ours.Type().Elem())
			if err := tw.Unmarshal(tb, back.Interface()); err != nil {
				t.Fatalf("ours cannot decode the generated type's bytes: %v", err)
			}
			if !reflect.DeepEqual(ours.Interface(), back.Interface()) {
				t.Errorf("round trip through %s:\n got  %+v\n want %+v", name(p.theirs), back.Elem(), ours.Elem())
			}
			coverage(t, "", ours.Type().Elem(), reflect.TypeOf(theirs).Elem(), p.missing)
		})
	}
}

// TestTypeURLs checks the type URLs of the Any values the shim makes.
func TestTypeURLs(t *testing.T) {
	for _, c := range []struct {
		ours   tw.Message
		theirs proto.Message
	}{
		{&tw.TaskCreate{}, &eventsapi.TaskCreate{}},
		{&tw.TaskStart{}, &eventsapi.TaskStart{}},
		{&tw.TaskDelete{}, &eventsapi.TaskDelete{}},
		{&tw.TaskExit{}, &eventsapi.TaskExit{}},
		{&tw.TaskOOM{}, &eventsapi.TaskOOM{}},
		{&tw.TaskExecAdded{}, &eventsapi.TaskExecAdded{}},
		{&tw.TaskExecStarted{}, &eventsapi.TaskExecStarted{}},
		{&tw.TaskPaused{}, &eventsapi.TaskPaused{}},
		{&tw.TaskResumed{}, &eventsapi.TaskResumed{}},
		{&tw.Options{}, &options.Options{}},
		{&tw.ProcessDetails{}, &options.ProcessDetails{}},
		{&tw.MetricsV1{}, &v1.Metrics{}},
		{&tw.MetricsV2{}, &v2.Metrics{}},
	} {
		want, err := typeurl.TypeURL(c.theirs)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ours.TypeURL(); got != want {
			t.Errorf("%T: type URL %q, typeurl says %q", c.ours, got, want)
		}
		// And containerd's side decodes the Any into the generated type.
		a := tw.MarshalAny(c.ours)
		v, err := typeurl.UnmarshalByTypeURL(a.TypeUrl, a.Value)
		if err != nil {
			t.Errorf("%T: %v", c.ours, err)
		} else if reflect.TypeOf(v) != reflect.TypeOf(c.theirs) {
			t.Errorf("%T decodes as %T", c.ours, v)
		}
	}
}

// TestTimestamps: a process's exit time is always sent, a zero one as
// protobuf's zero time (as timestamppb.New(time.Time{}) did), except in
// State, where it is left out while the process runs.
func TestTimestamps(t *testing.T) {
	var d taskv2.DeleteResponse
	if err := proto.Unmarshal(tw.Marshal(&tw.DeleteResponse{Pid: 1}), &d); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(d.ExitedAt, timestamppb.New(time.Time{})) {
		t.Errorf("zero exit time sent as %v", d.ExitedAt)
	}
	var s taskv2.StateResponse
	if err := proto.Unmarshal(tw.Marshal(&tw.StateResponse{Pid: 1}), &s); err != nil {
		t.Fatal(err)
	}
	if s.ExitedAt != nil {
		t.Errorf("State of a running process has exit time %v", s.ExitedAt)
	}
	at := time.Date(2026, 11, 22, 8, 0, 0, 123456789, time.UTC)
	if err := proto.Unmarshal(tw.Marshal(&tw.StateResponse{ExitedAt: at}), &s); err != nil {
		t.Fatal(err)
	}
	if !s.ExitedAt.AsTime().Equal(at) {
		t.Errorf("exit time %v, want %v", s.ExitedAt.AsTime(), at)
	}
}

// TestUnknownFields: fields the shim does not know are skipped.
func TestUnknownFields(t *testing.T) {
	b, err := proto.Marshal(&bootapi.BootstrapParams{
		ContainerdTtrpcAddress: "/run/c.sock.ttrpc",
		Extensions:             []*bootapi.Extension{{}},
		LogLevel:               bootapi.LogLevel_LOG_LEVEL_DEBUG, // negative
	})
	if err != nil {
		t.Fatal(err)
	}
	var p tw.BootstrapParams
	if err := tw.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.ContainerdTtrpcAddress != "/run/c.sock.ttrpc" || p.LogLevel != int32(bootapi.LogLevel_LOG_LEVEL_DEBUG) {
		t.Errorf("decoded %+v", p)
	}
	// The skipped fields are named for the shim's debug log, nested ones
	// too (the unknown field 99 of a Mount inside a CreateTaskRequest).
	unknown, err := tw.UnmarshalUnknown(b, &p)
	if err != nil || !slices.Equal(unknown, []string{"BootstrapParams.8"}) {
		t.Errorf("unknown fields of a BootstrapParams with Extensions: %q, %v", unknown, err)
	}
	mount := append(tw.Marshal(&tw.Mount{Type: "overlay"}), 0x98, 0x06, 0x01)         // field 99, varint 1
	req := append(tw.Marshal(&tw.CreateTaskRequest{ID: "c"}), 0x1a, byte(len(mount))) // field 3, Rootfs
	req = append(req, mount...)
	var c tw.CreateTaskRequest
	if unknown, err = tw.UnmarshalUnknown(req, &c); err != nil || !slices.Equal(unknown, []string{"Mount.99"}) || len(c.Rootfs) != 1 || c.Rootfs[0].Type != "overlay" {
		t.Errorf("a Mount with an unknown field: %q, %v, %+v", unknown, err, c)
	}
	if err := tw.Unmarshal([]byte{0x0a, 0x05, 'a'}, &p); err == nil {
		t.Error("truncated message decoded without error")
	}
}

var timeType = reflect.TypeFor[time.Time]()

// fill sets every tagged field of a shim message to a distinct value.
func fill(v reflect.Value, n *uint64) {
	next := func() uint64 { *n++; return *n }
	for i := range v.NumField() {
		if _, ok := v.Type().Field(i).Tag.Lookup("pb"); !ok {
			continue
		}
		fillValue(v.Field(i), next)
	}
}

func fillValue(f reflect.Value, next func() uint64) {
	if f.Type() == timeType {
		x := next()
		f.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(x), int64(x)*1000).UTC()))
		return
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(fmt.Sprintf("s%d", next()))
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Uint32, reflect.Uint64:
		f.SetUint(next() * 1000003) // multi-byte varints
	case reflect.Int32, reflect.Int64:
		f.SetInt(int64(next()))
	case reflect.Pointer:
		e := reflect.New(f.Type().Elem())
		var n uint64 = next() * 100
		fill(e.Elem(), &n)
		f.Set(e)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.Uint8 {
			f.SetBytes(fmt.Appendf(nil, "b%d", next()))
			return
		}
		s := reflect.MakeSlice(f.Type(), 2, 2)
		for i := range 2 {
			fillValue(s.Index(i), next)
		}
		f.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(f.Type())
		for range 2 {
			x := next()
			m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%d", x)), reflect.ValueOf(fmt.Sprintf("v%d", x)))
		}
		f.Set(m)
	default:
		panic("fill: " + f.Type().String())
	}
}

// compare checks that every field of ours has the same value in the
// generated message's field of the same name.
func compare(t *testing.T, path string, ours, theirs reflect.Value) {
	t.Helper()
	for i := range ours.NumField() {
		sf := ours.Type().Field(i)
		if _, ok := sf.Tag.Lookup("pb"); !ok {
			continue
		}
		p := path + "." + sf.Name
		tf := theirs.FieldByName(sf.Name)
		if !tf.IsValid() {
			t.Errorf("%s: no such field in %s", p, theirs.Type())
			continue
		}
		compareValue(t, p, ours.Field(i), tf)
	}
}

func compareValue(t *testing.T, p string, o, th reflect.Value) {
	t.Helper()
	if o.Type() == timeType {
		ts, _ := th.Interface().(*timestamppb.Timestamp)
		if ts == nil || !ts.AsTime().Equal(o.Interface().(time.Time)) {
			t.Errorf("%s: %v, generated %v", p, o.Interface(), ts)
		}
		return
	}
	switch o.Kind() {
	case reflect.Pointer:
		if o.IsNil() != th.IsNil() {
			t.Errorf("%s: nil %v, generated nil %v", p, o.IsNil(), th.IsNil())
			return
		}
		if !o.IsNil() {
			compare(t, p, o.Elem(), th.Elem())
		}
	case reflect.Slice:
		if o.Type().Elem().Kind() == reflect.Uint8 {
			if string(o.Bytes()) != string(th.Bytes()) {
				t.Errorf("%s: %q, generated %q", p, o.Bytes(), th.Bytes())
			}
			return
		}
		if o.Len() != th.Len() {
			t.Errorf("%s: %d elements, generated %d", p, o.Len(), th.Len())
			return
		}
		for i := range o.Len() {
			compareValue(t, fmt.Sprintf("%s[%d]", p, i), o.Index(i), th.Index(i))
		}
	case reflect.Map:
		if !reflect.DeepEqual(o.Interface(), th.Interface()) {
			t.Errorf("%s: %v, generated %v", p, o.Interface(), th.Interface())
		}
	default:
		if th.Kind() == reflect.Pointer { // proto3 optional
			if th.IsNil() {
				t.Errorf("%s: %v, generated nil", p, o.Interface())
				return
			}
			th = th.Elem()
		}
		if fmt.Sprint(o.Interface()) != fmt.Sprint(th.Convert(o.Type()).Interface()) {
			t.Errorf("%s: %v, generated %v", p, o.Interface(), th.Interface())
		}
	}
}

// coverage checks that the shim's type has every field of the generated
// one, but those it deliberately leaves out.
func coverage(t *testing.T, path string, ours, theirs reflect.Type, missing []string) {
	t.Helper()
	for i := range theirs.NumField() {
		f := theirs.Field(i)
		if !f.IsExported() || strings.HasPrefix(f.Name, "XXX_") {
			continue
		}
		of, ok := ours.FieldByName(f.Name)
		if !ok {
			if !slices.Contains(missing, f.Name) {
				t.Errorf("%s%s.%s is not carried by %s", path, theirs.Name(), f.Name, ours)
			}
			continue
		}
		ot, tt := of.Type, f.Type
		for ot.Kind() == reflect.Slice || ot.Kind() == reflect.Pointer {
			ot = ot.Elem()
		}
		for tt.Kind() == reflect.Slice || tt.Kind() == reflect.Pointer {
			tt = tt.Elem()
		}
		if ot.Kind() == reflect.Struct && ot != timeType && tt.Kind() == reflect.Struct {
			coverage(t, path+theirs.Name()+".", ot, tt, missing)
		}
	}
}

// TestIs: an Any's type is recognised with or without a URL prefix.
func TestIs(t *testing.T) {
	a, err := anypb.New(&options.Options{Root: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	ours := &tw.Any{TypeUrl: a.TypeUrl, Value: a.Value}
	if !tw.Is(ours, &tw.Options{}) {
		t.Errorf("%s is not Options", a.TypeUrl)
	}
	ours.TypeUrl = "containerd.runc.v1.Options"
	if !tw.Is(ours, &tw.Options{}) || tw.Is(ours, &tw.ProcessDetails{}) || tw.Is(nil, &tw.Options{}) {
		t.Error("Is without prefix")
	}
}

// TestTaskMessages walks containerd's task service descriptors (v3 and v2):
// every message a method takes or returns, and every message those hold,
// must have a pair above, so that TestRoundTrip and its coverage check
// compare it field by field with the shim's hand-written type. A message
// containerd adds fails here on the go.mod bump instead of being decoded
// as nothing at runtime. Timestamps are carried natively by the codec.
func TestTaskMessages(t *testing.T) {
	covered := map[protoreflect.FullName]bool{"google.protobuf.Timestamp": true}
	for _, p := range pairs() {
		covered[p.theirs.ProtoReflect().Descriptor().FullName()] = true
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor, path string)
	walk = func(md protoreflect.MessageDescriptor, path string) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		if !covered[md.FullName()] {
			t.Errorf("%s: message %s has no hand-written counterpart checked by TestRoundTrip (add it to taskwire and to pairs)", path, md.FullName())
			return
		}
		for i := range md.Fields().Len() {
			f := md.Fields().Get(i)
			if f.IsMap() {
				f = f.MapValue()
			}
			if f.Message() != nil {
				walk(f.Message(), path+"."+string(md.Fields().Get(i).Name()))
			}
		}
	}
	for _, fd := range []protoreflect.FileDescriptor{taskv3.File_runtime_task_v3_shim_proto, taskv2.File_runtime_task_v2_shim_proto} {
		svc := fd.Services().ByName("Task")
		if svc == nil {
			t.Fatalf("%s has no Task service", fd.Path())
		}
		for i := range svc.Methods().Len() {
			m := svc.Methods().Get(i)
			walk(m.Input(), string(svc.FullName())+"."+string(m.Name())+" request")
			walk(m.Output(), string(svc.FullName())+"."+string(m.Name())+" response")
		}
	}
	if len(seen) < 20 {
		t.Errorf("the walk saw only %d messages: is the descriptor empty?", len(seen))
	}
}
