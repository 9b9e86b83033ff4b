package conv

import (
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/berthproject/berth/pkg/types/cluster"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// ClusterInfoToProto converts a cluster's info.
func ClusterInfoToProto(i *cluster.Info) *berthv1.ClusterInfo {
	if i == nil {
		return nil
	}
	p := &berthv1.ClusterInfo{
		State: i.State, ClusterId: i.ClusterID, NodeId: i.NodeID, NodeAddr: i.NodeAddr,
		Store: i.Store, StoreEndpoints: i.StoreEndpoints, EtcdMember: i.EtcdMember,
		Nodes: int32(i.Nodes), NodesReady: int32(i.NodesReady), Members: int32(i.Members),
		CaCertHash: i.CACertHash,
	}
	if !i.CreatedAt.IsZero() {
		p.CreatedAt = Timestamp(i.CreatedAt)
	}
	if i.HeartbeatTTL != 0 {
		p.HeartbeatTtl = durationpb.New(i.HeartbeatTTL)
	}
	return p
}

// ClusterInfoFromProto converts a cluster's info back.
func ClusterInfoFromProto(p *berthv1.ClusterInfo) *cluster.Info {
	if p == nil {
		return nil
	}
	i := &cluster.Info{
		State: p.GetState(), ClusterID: p.GetClusterId(), NodeID: p.GetNodeId(), NodeAddr: p.GetNodeAddr(),
		Store: p.GetStore(), StoreEndpoints: p.GetStoreEndpoints(), EtcdMember: p.GetEtcdMember(),
		Nodes: int(p.GetNodes()), NodesReady: int(p.GetNodesReady()), Members: int(p.GetMembers()),
		CACertHash: p.GetCaCertHash(),
	}
	if p.CreatedAt != nil {
		i.CreatedAt = Time(p.CreatedAt)
	}
	if p.HeartbeatTtl != nil {
		i.HeartbeatTTL = p.HeartbeatTtl.AsDuration()
	}
	return i
}

// NodeToProto converts a node.
func NodeToProto(n *cluster.Node) *berthv1.Node {
	if n == nil {
		return nil
	}
	return &berthv1.Node{
		Id: n.ID, Hostname: n.Hostname, Addr: n.Addr, Availability: n.Availability, Labels: n.Labels,
		EtcdMember: n.EtcdMember, EtcdMemberId: n.EtcdMemberID, EngineVersion: n.EngineVersion,
		CreatedAt: Timestamp(n.CreatedAt), UpdatedAt: Timestamp(n.UpdatedAt),
		Status: n.Status, StoreRole: n.StoreRole, Self: n.Self, Version: n.Version,
	}
}

// NodeFromProto converts a node back.
func NodeFromProto(p *berthv1.Node) *cluster.Node {
	if p == nil {
		return nil
	}
	return &cluster.Node{
		ID: p.GetId(), Hostname: p.GetHostname(), Addr: p.GetAddr(), Availability: p.GetAvailability(),
		Labels: p.GetLabels(), EtcdMember: p.GetEtcdMember(), EtcdMemberID: p.GetEtcdMemberId(),
		EngineVersion: p.GetEngineVersion(), CreatedAt: Time(p.GetCreatedAt()), UpdatedAt: Time(p.GetUpdatedAt()),
		Status: p.GetStatus(), StoreRole: p.GetStoreRole(), Self: p.GetSelf(), Version: p.GetVersion(),
	}
}
