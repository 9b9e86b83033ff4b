package conv

import (
	"errors"
	"slices"

	"google.golang.org/genproto/googleapis/rpc/status"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// setToList turns a set (ExposedPorts, Volumes) into a sorted list.
func setToList(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func listToSet(l []string) map[string]struct{} {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(l))
	for _, k := range l {
		m[k] = struct{}{}
	}
	return m
}

// ImageToProto converts Inspect's view of an image.
func ImageToProto(i *image.Image) *berthv1.Image {
	if i == nil {
		return nil
	}
	p := &berthv1.Image{
		Id:           i.ID,
		RepoTags:     i.RepoTags,
		RepoDigests:  i.RepoDigests,
		Created:      Timestamp(i.Created),
		Author:       i.Author,
		Architecture: i.Architecture,
		Variant:      i.Variant,
		Os:           i.Os,
		Size:         i.Size,
		Config: &berthv1.ImageConfig{
			User:         i.Config.User,
			ExposedPorts: setToList(i.Config.ExposedPorts),
			Env:          i.Config.Env,
			Entrypoint:   i.Config.Entrypoint,
			Cmd:          i.Config.Cmd,
			Volumes:      setToList(i.Config.Volumes),
			WorkingDir:   i.Config.WorkingDir,
			Labels:       i.Config.Labels,
			StopSignal:   i.Config.StopSignal,
		},
		RootFs: &berthv1.ImageRootFS{Type: i.RootFS.Type, Layers: i.RootFS.Layers},
		Names:  i.Names,
		Target: i.Target,
	}
	for _, h := range i.History {
		p.History = append(p.History, &berthv1.ImageHistory{
			Created:    Timestamp(h.Created),
			CreatedBy:  h.CreatedBy,
			Author:     h.Author,
			Comment:    h.Comment,
			EmptyLayer: h.EmptyLayer,
		})
	}
	return p
}

// ImageFromProto is the inverse of ImageToProto.
func ImageFromProto(p *berthv1.Image) *image.Image {
	if p == nil {
		return nil
	}
	c := p.GetConfig()
	i := &image.Image{
		ID:           p.GetId(),
		RepoTags:     p.GetRepoTags(),
		RepoDigests:  p.GetRepoDigests(),
		Created:      Time(p.GetCreated()),
		Author:       p.GetAuthor(),
		Architecture: p.GetArchitecture(),
		Variant:      p.GetVariant(),
		Os:           p.GetOs(),
		Size:         p.GetSize(),
		Config: image.Config{
			User:         c.GetUser(),
			ExposedPorts: listToSet(c.GetExposedPorts()),
			Env:          c.GetEnv(),
			Entrypoint:   c.GetEntrypoint(),
			Cmd:          c.GetCmd(),
			Volumes:      listToSet(c.GetVolumes()),
			WorkingDir:   c.GetWorkingDir(),
			Labels:       c.GetLabels(),
			StopSignal:   c.GetStopSignal(),
		},
		RootFS: image.RootFS{Type: p.GetRootFs().GetType(), Layers: p.GetRootFs().GetLayers()},
		Names:  p.GetNames(),
		Target: p.GetTarget(),
	}
	for _, h := range p.GetHistory() {
		i.History = append(i.History, image.History{
			Created:    Time(h.GetCreated()),
			CreatedBy:  h.GetCreatedBy(),
			Author:     h.GetAuthor(),
			Comment:    h.GetComment(),
			EmptyLayer: h.GetEmptyLayer(),
		})
	}
	return i
}

// ImageSummaryToProto converts one row of the image list.
func ImageSummaryToProto(s image.Summary) *berthv1.ImageSummary {
	return &berthv1.ImageSummary{
		Id:          s.ID,
		RepoTags:    s.RepoTags,
		RepoDigests: s.RepoDigests,
		Created:     Timestamp(s.Created),
		Size:        s.Size,
		Labels:      s.Labels,
	}
}

// ImageSummaryFromProto is the inverse of ImageSummaryToProto.
func ImageSummaryFromProto(p *berthv1.ImageSummary) image.Summary {
	return image.Summary{
		ID:          p.GetId(),
		RepoTags:    p.GetRepoTags(),
		RepoDigests: p.GetRepoDigests(),
		Created:     Time(p.GetCreated()),
		Size:        p.GetSize(),
		Labels:      p.GetLabels(),
	}
}

// DeleteResponsesToProto converts Remove's report.
func DeleteResponsesToProto(rs []image.DeleteResponse) []*berthv1.ImageDeleteResponse {
	out := make([]*berthv1.ImageDeleteResponse, 0, len(rs))
	for _, r := range rs {
		out = append(out, &berthv1.ImageDeleteResponse{Untagged: r.Untagged, Deleted: r.Deleted})
	}
	return out
}

// DeleteResponsesFromProto is the inverse of DeleteResponsesToProto.
func DeleteResponsesFromProto(ps []*berthv1.ImageDeleteResponse) []image.DeleteResponse {
	out := make([]image.DeleteResponse, 0, len(ps))
	for _, p := range ps {
		out = append(out, image.DeleteResponse{Untagged: p.GetUntagged(), Deleted: p.GetDeleted()})
	}
	return out
}

// ErrorsToStatuses splits an error (errors.Join of one error per failed
// item) into statuses for a batch response; nil gives nil.
func ErrorsToStatuses(err error) []*berthv1.Status {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]*berthv1.Status, 0, len(errs))
	for _, e := range errs {
		st, _ := grpcstatus.FromError(ErrorToGRPC(e))
		p := st.Proto()
		out = append(out, &berthv1.Status{Code: p.GetCode(), Message: p.GetMessage(), Details: p.GetDetails()})
	}
	return out
}

// ErrorsFromStatuses is the inverse of ErrorsToStatuses: the typed errors,
// joined (errors.Is works on the result); none gives nil.
func ErrorsFromStatuses(ss []*berthv1.Status) error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, ErrorFromGRPC(grpcstatus.ErrorProto(&status.Status{
			Code: s.GetCode(), Message: s.GetMessage(), Details: s.GetDetails(),
		})))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
