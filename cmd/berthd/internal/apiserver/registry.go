package apiserver

import (
	"context"
	"sync"
	"time"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// progressBatcher collects progress updates and sends them every interval,
// so that a fast stream of byte counts costs few messages. The engine may
// call add after the call ended (a shared pull); that only buffers.
type progressBatcher struct {
	mu      sync.Mutex
	pending []*berthv1.ImageProgress
}

func (b *progressBatcher) add(p imagetypes.Progress) {
	b.mu.Lock()
	b.pending = append(b.pending, conv.ProgressToProto(p))
	b.mu.Unlock()
}

func (b *progressBatcher) take() []*berthv1.ImageProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.pending
	b.pending = nil
	return out
}

// run sends batches through send until stop closes, then returns.
func (b *progressBatcher) run(stop <-chan struct{}, send func([]*berthv1.ImageProgress) error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if ps := b.take(); len(ps) > 0 {
				if send(ps) != nil {
					return
				}
			}
		}
	}
}

// withProgress runs op with a progress function whose updates are streamed
// through send while op runs; the updates left are returned for the last
// message.
func withProgress(send func([]*berthv1.ImageProgress) error, op func(imagetypes.ProgressFunc) error) ([]*berthv1.ImageProgress, error) {
	b := &progressBatcher{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); b.run(stop, send) }()
	err := op(b.add)
	close(stop)
	<-done
	return b.take(), err
}

func (s *imagesServer) Pull(r *berthv1.PullImageRequest, stream berthv1.ImagesService_PullServer) error {
	if r.GetRef() == "" {
		return invalid("pull: no image given")
	}
	var img *imagetypes.Image
	rest, err := withProgress(func(ps []*berthv1.ImageProgress) error {
		return stream.Send(&berthv1.PullImageResponse{Progress: ps})
	}, func(p imagetypes.ProgressFunc) error {
		var err error
		img, err = s.i.Pull(stream.Context(), r.GetRef(), imagetypes.PullOptions{Platform: r.GetPlatform(), Auth: conv.AuthFromProto(r.GetAuth()), Progress: p})
		return err
	})
	if err != nil {
		if len(rest) > 0 {
			_ = stream.Send(&berthv1.PullImageResponse{Progress: rest})
		}
		return err
	}
	return stream.Send(&berthv1.PullImageResponse{Progress: rest, Image: conv.ImageToProto(img)})
}

func (s *imagesServer) Push(r *berthv1.PushImageRequest, stream berthv1.ImagesService_PushServer) error {
	if r.GetRef() == "" {
		return invalid("push: no image given")
	}
	var res *imagetypes.PushResult
	rest, err := withProgress(func(ps []*berthv1.ImageProgress) error {
		return stream.Send(&berthv1.PushImageResponse{Progress: ps})
	}, func(p imagetypes.ProgressFunc) error {
		var err error
		res, err = s.i.Push(stream.Context(), r.GetRef(), imagetypes.PushOptions{Auth: conv.AuthFromProto(r.GetAuth()), Progress: p})
		return err
	})
	if err != nil {
		if len(rest) > 0 {
			_ = stream.Send(&berthv1.PushImageResponse{Progress: rest})
		}
		return err
	}
	return stream.Send(&berthv1.PushImageResponse{Progress: rest, Result: conv.PushResultToProto(res)})
}

func (s *imagesServer) Login(ctx context.Context, r *berthv1.LoginRequest) (*berthv1.LoginResponse, error) {
	a := conv.AuthFromProto(r.GetAuth())
	if a == nil {
		return nil, invalid("login: no credentials given")
	}
	st, err := s.i.Login(ctx, *a)
	if err != nil {
		return nil, err
	}
	return &berthv1.LoginResponse{Status: st}, nil
}

func (s *imagesServer) History(ctx context.Context, r *berthv1.ImageHistoryRequest) (*berthv1.ImageHistoryResponse, error) {
	es, err := s.i.History(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	return &berthv1.ImageHistoryResponse{Entries: conv.HistoryToProto(es)}, nil
}

func (s *imagesServer) Prune(ctx context.Context, r *berthv1.PruneImagesRequest) (*berthv1.PruneImagesResponse, error) {
	rep, err := s.i.Prune(ctx, imagetypes.PruneOptions{All: r.GetAll(), Filters: conv.FilterMap(r.GetFilters())})
	if err != nil {
		return nil, err
	}
	return conv.PruneReportToProto(rep), nil
}
