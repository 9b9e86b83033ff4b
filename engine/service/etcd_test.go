package service

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster/clustertest"
)

func startEtcd(t testing.TB) *clientv3.Client { return clustertest.StartEtcd(t) }
