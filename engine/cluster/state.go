package cluster

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/pkg/atomicfile"
)

// Store modes.
const (
	StoreEmbedded = "embedded" // etcd members run by berthd on the first nodes
	StoreExternal = "external" // --cluster-store etcd://...
)

// localState is what a node keeps of its membership in <root>/cluster/
// state.json, to take its place again when berthd restarts.
type localState struct {
	ClusterID string   `json:"ClusterID"`
	NodeID    string   `json:"NodeID"`
	NodeName  string   `json:"NodeName"`
	Addr      string   `json:"Addr"`
	Store     string   `json:"Store"`
	Endpoints []string `json:"Endpoints"`
	// EtcdMember: this node runs an etcd member with these settings.
	EtcdMember     bool   `json:"EtcdMember"`
	InitialCluster string `json:"InitialCluster,omitempty"`
	InitialState   string `json:"InitialState,omitempty"`
	// ExternalTLS: the external store is reached with the node's
	// store-*.pem files rather than its cluster certificate.
	ExternalTLS bool `json:"ExternalTLS,omitempty"`
}

func tlsFiles(dir string) (ca, cert, key string) {
	return filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
}

func storeTLSFiles(dir string) (ca, cert, key string) {
	return filepath.Join(dir, "store-ca.pem"), filepath.Join(dir, "store.pem"), filepath.Join(dir, "store-key.pem")
}

func readState(path string) (*localState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st localState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func writeState(path string, st *localState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// writeFiles writes name → content under dir (0600), durably.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range files {
		if b == nil {
			continue
		}
		if err := atomicfile.Write(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
