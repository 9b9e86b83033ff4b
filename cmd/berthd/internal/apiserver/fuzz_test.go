package apiserver_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	networksvc "github.com/berthproject/berth/engine/network"
	"github.com/berthproject/berth/pkg/types/network"
	volumetypes "github.com/berthproject/berth/pkg/types/volume"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// unaryMethod is one unary call of the API with its request and response
// types.
type unaryMethod struct {
	name    string
	in, out protoreflect.MessageDescriptor
}

func unaryMethods(t testing.TB) []unaryMethod {
	var out []unaryMethod
	for _, desc := range []*grpc.ServiceDesc{&berthv1.ContainersService_ServiceDesc, &berthv1.ImagesService_ServiceDesc,
		&berthv1.SystemService_ServiceDesc, &berthv1.NetworksService_ServiceDesc, &berthv1.VolumesService_ServiceDesc} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(desc.ServiceName))
		if err != nil {
			t.Fatal(err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		for _, m := range desc.Methods {
			md := sd.Methods().ByName(protoreflect.Name(m.MethodName))
			out = append(out, unaryMethod{"/" + desc.ServiceName + "/" + m.MethodName, md.Input(), md.Output()})
		}
	}
	return out
}

// FuzzUnaryRequests sends every unary call of the API a request decoded
// from arbitrary bytes (any field set or missing, any value) over a real
// gRPC connection, against fake services that answer everything: the
// server's conversion and validation of requests never panics (a panic is
// an Internal error), whatever the request holds.
func FuzzUnaryRequests(f *testing.F) {
	methods := unaryMethods(f)
	dir, err := os.MkdirTemp("/tmp", "bfz")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	fe := newFake()
	v := filled[volumetypes.Volume](f)
	fn := &fakeNetworks{nets: map[string]*network.Network{}}
	s := grpc.NewServer()
	apiserver.RegisterServices(s, apiserver.Backend{Containers: fe, Images: fakeImages{f: fe}, Events: fe, System: fe,
		Networks: networksvc.New(networksvc.Options{Manager: fn, Containers: fn, Events: fn}),
		Volumes:  &fakeVolumes{vol: &v}}, daemonInfo)
	go func() { _ = s.Serve(ln) }()
	f.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })

	for i := range methods {
		f.Add(uint8(i), []byte{})
	}
	f.Add(uint8(0), []byte{0x0a, 0x03, 'a', 'b', 'c'})
	f.Add(uint8(1), []byte{0x12, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		m := methods[int(which)%len(methods)]
		req := dynamicpb.NewMessage(m.in)
		if err := proto.Unmarshal(b, req); err != nil {
			return // the gRPC codec would refuse it before any handler
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := conn.Invoke(ctx, m.name, req, dynamicpb.NewMessage(m.out))
		if code := status.Code(err); code == codes.Internal || code == codes.Unknown || code == codes.DeadlineExceeded {
			t.Fatalf("%s(%v): %v", m.name, req, err)
		}
	})
}
