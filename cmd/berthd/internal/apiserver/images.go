package apiserver

import (
	"bufio"
	"context"
	"io"

	"github.com/berthproject/berth/pkg/api"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

type imagesServer struct {
	berthv1.UnimplementedImagesServiceServer
	i api.Images
}

// chunkReader reads the data chunks of a client stream; the end of the
// client stream is EOF.
type chunkReader struct {
	recv func() ([]byte, error)
	buf  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		b, err := r.recv()
		if err != nil {
			return 0, err
		}
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *imagesServer) Import(stream berthv1.ImagesService_ImportServer) error {
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("import", err)
	}
	opts := first.GetOptions()
	r := &chunkReader{buf: first.GetData(), recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	img, err := s.i.Import(stream.Context(), r, imagetypes.ImportOptions{Ref: opts.GetRef(), Message: opts.GetMessage(), Platform: opts.GetPlatform()})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&berthv1.ImportImageResponse{Image: conv.ImageToProto(img)})
}

func (s *imagesServer) Load(stream berthv1.ImagesService_LoadServer) error {
	r := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	var progress []string
	imgs, err := s.i.Load(stream.Context(), r, func(line string) { progress = append(progress, line) })
	if err != nil {
		return err
	}
	resp := &berthv1.LoadImagesResponse{Progress: progress}
	for i := range imgs {
		resp.Images = append(resp.Images, conv.ImageToProto(&imgs[i]))
	}
	return stream.SendAndClose(resp)
}

func (s *imagesServer) Save(r *berthv1.SaveImagesRequest, stream berthv1.ImagesService_SaveServer) error {
	out := &output[berthv1.SaveImagesResponse]{send: stream.Send, greeted: true}
	// Archives are written in small pieces (tar headers); batch them.
	w := bufio.NewWriterSize(out.writer(func(p []byte) *berthv1.SaveImagesResponse {
		return &berthv1.SaveImagesResponse{Data: p}
	}), 256<<10)
	if err := s.i.Save(stream.Context(), w, r.GetRefs()); err != nil {
		return err
	}
	return w.Flush()
}

func (s *imagesServer) Tag(ctx context.Context, r *berthv1.TagImageRequest) (*berthv1.TagImageResponse, error) {
	return &berthv1.TagImageResponse{}, s.i.Tag(ctx, r.GetSource(), r.GetTarget())
}

func (s *imagesServer) Remove(ctx context.Context, r *berthv1.RemoveImagesRequest) (*berthv1.RemoveImagesResponse, error) {
	if len(r.GetRefs()) == 0 {
		return nil, invalid("remove: no image given")
	}
	items, err := s.i.Remove(ctx, r.GetRefs(), imagetypes.RemoveOptions{Force: r.GetForce()})
	return &berthv1.RemoveImagesResponse{
		Items:  conv.DeleteResponsesToProto(items),
		Errors: conv.ErrorsToStatuses(err),
	}, nil
}

func (s *imagesServer) List(ctx context.Context, r *berthv1.ListImagesRequest) (*berthv1.ListImagesResponse, error) {
	list, err := s.i.List(ctx, imagetypes.ListOptions{All: r.GetAll(), Filters: conv.FilterMap(r.GetFilters())})
	if err != nil {
		return nil, err
	}
	resp := &berthv1.ListImagesResponse{Images: make([]*berthv1.ImageSummary, 0, len(list))}
	for _, i := range list {
		resp.Images = append(resp.Images, conv.ImageSummaryToProto(i))
	}
	return resp, nil
}

func (s *imagesServer) Inspect(ctx context.Context, r *berthv1.InspectImageRequest) (*berthv1.InspectImageResponse, error) {
	img, err := s.i.Inspect(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectImageResponse{Image: conv.ImageToProto(img)}, nil
}

var _ io.Reader = (*chunkReader)(nil)
