package taskwire

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// fuzzTargets are the messages the shim decodes from containerd and from
// its own clients: every request of the task service, the bootstrap
// parameters and the events envelope.
func fuzzTargets() []any {
	return []any{
		&CreateTaskRequest{}, &DeleteRequest{}, &ExecProcessRequest{}, &ResizePtyRequest{},
		&StateRequest{}, &KillRequest{}, &CloseIORequest{}, &PidsRequest{},
		&CheckpointTaskRequest{}, &UpdateTaskRequest{}, &StartRequest{}, &WaitRequest{},
		&StatsRequest{}, &ConnectRequest{}, &ForwardRequest{}, &Envelope{},
		&BootstrapParams{}, &Options{}, &StateResponse{}, &MetricsV1{}, &MetricsV2{},
	}
}

// FuzzUnmarshal feeds arbitrary bytes to the hand-written decoder: it must
// return an error or a message, never panic, and what it decoded must
// encode to bytes that decode to the same message (re-encoding is stable).
func FuzzUnmarshal(f *testing.F) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(Marshal(&CreateTaskRequest{ID: "c1", Bundle: "/b", Terminal: true, Stdin: "/i",
		Rootfs:  []*Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a", "upperdir=/u"}}},
		Options: &Any{TypeUrl: "x", Value: []byte{1, 2}}}))
	f.Add(Marshal(&ExecProcessRequest{ID: "c1", ExecID: "e1", Spec: &Any{TypeUrl: "spec", Value: []byte("{}")}}))
	f.Add(Marshal(&Envelope{Timestamp: ts, Namespace: "berth", Topic: "/tasks/exit",
		Event: MarshalAny(&TaskExit{ContainerID: "c", ID: "c", Pid: 9, ExitStatus: 137, ExitedAt: ts})}))
	f.Add(Marshal(&StateResponse{ID: "c", Pid: 1, ExitedAt: ts}))
	f.Add([]byte{0x0a, 0x80})                                                 // truncated length
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})                         // huge length
	f.Add([]byte{0x1b, 0x08, 0x01, 0x1c})                                     // a group
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}) // varint overflow
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range fuzzTargets() {
			if err := Unmarshal(b, m); err != nil {
				continue
			}
			once := Marshal(m)
			again := reflect.New(reflect.TypeOf(m).Elem()).Interface()
			if err := Unmarshal(once, again); err != nil {
				t.Fatalf("%T: re-encoded message does not decode: %v", m, err)
			}
			if twice := Marshal(again); !bytes.Equal(once, twice) {
				t.Fatalf("%T: encoding not stable:\n%x\n%x", m, once, twice)
			}
		}
	})
}
