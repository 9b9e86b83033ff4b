package conv

import (
	"github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// AuthToProto converts registry credentials (nil stays nil).
func AuthToProto(a *image.AuthConfig) *berthv1.RegistryAuth {
	if a == nil {
		return nil
	}
	return &berthv1.RegistryAuth{ServerAddress: a.ServerAddress, Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
}

// AuthFromProto converts registry credentials (nil stays nil).
func AuthFromProto(p *berthv1.RegistryAuth) *image.AuthConfig {
	if p == nil {
		return nil
	}
	return &image.AuthConfig{ServerAddress: p.GetServerAddress(), Username: p.GetUsername(), Password: p.GetPassword(), IdentityToken: p.GetIdentityToken()}
}

// ProgressToProto converts one progress update.
func ProgressToProto(p image.Progress) *berthv1.ImageProgress {
	return &berthv1.ImageProgress{Id: p.ID, Status: p.Status, Current: p.Current, Total: p.Total, Message: p.Message}
}

// ProgressFromProto converts one progress update.
func ProgressFromProto(p *berthv1.ImageProgress) image.Progress {
	return image.Progress{ID: p.GetId(), Status: p.GetStatus(), Current: p.GetCurrent(), Total: p.GetTotal(), Message: p.GetMessage()}
}

// PushResultToProto converts a push's result.
func PushResultToProto(r *image.PushResult) *berthv1.PushResult {
	if r == nil {
		return nil
	}
	return &berthv1.PushResult{Tag: r.Tag, Digest: r.Digest, Size: r.Size}
}

// PushResultFromProto converts a push's result.
func PushResultFromProto(p *berthv1.PushResult) *image.PushResult {
	if p == nil {
		return nil
	}
	return &image.PushResult{Tag: p.GetTag(), Digest: p.GetDigest(), Size: p.GetSize()}
}

// HistoryToProto converts History's entries.
func HistoryToProto(es []image.HistoryEntry) []*berthv1.ImageHistoryEntry {
	out := make([]*berthv1.ImageHistoryEntry, 0, len(es))
	for _, e := range es {
		out = append(out, &berthv1.ImageHistoryEntry{Id: e.ID, Created: Timestamp(e.Created), CreatedBy: e.CreatedBy, Tags: e.Tags, Size: e.Size, Comment: e.Comment})
	}
	return out
}

// HistoryFromProto converts History's entries.
func HistoryFromProto(ps []*berthv1.ImageHistoryEntry) []image.HistoryEntry {
	out := make([]image.HistoryEntry, 0, len(ps))
	for _, p := range ps {
		out = append(out, image.HistoryEntry{ID: p.GetId(), Created: Time(p.GetCreated()), CreatedBy: p.GetCreatedBy(), Tags: p.GetTags(), Size: p.GetSize(), Comment: p.GetComment()})
	}
	return out
}

// PruneReportToProto converts Prune's report.
func PruneReportToProto(r *image.PruneReport) *berthv1.PruneImagesResponse {
	if r == nil {
		return &berthv1.PruneImagesResponse{}
	}
	return &berthv1.PruneImagesResponse{Deleted: DeleteResponsesToProto(r.Deleted), SpaceReclaimed: r.SpaceReclaimed}
}

// PruneReportFromProto converts Prune's report.
func PruneReportFromProto(p *berthv1.PruneImagesResponse) *image.PruneReport {
	return &image.PruneReport{Deleted: DeleteResponsesFromProto(p.GetDeleted()), SpaceReclaimed: p.GetSpaceReclaimed()}
}
