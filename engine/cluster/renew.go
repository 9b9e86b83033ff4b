package cluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/pkg/atomicfile"
)

func (s *Service) certValidity() time.Duration {
	if s.opts.CertValidity > 0 {
		return s.opts.CertValidity
	}
	return nodeValidity
}

// renewer renews this node's certificate before it expires, as swarm
// does: once less than a third of the validity is left, the node signs a
// new certificate for its own key with the cluster CA (its key is in the
// store, readable by cluster certificates only) and replaces node.pem.
// Everything that presents the certificate reads the file at each
// handshake (the store client, the join endpoint, and etcd, which reloads
// its certificate files per connection), so no restart is needed.
func (s *Service) renewer(ctx context.Context, store *Store, addr string, done chan struct{}) {
	defer close(done)
	every := min(time.Hour, max(s.certValidity()/10, time.Second))
	for ctx.Err() == nil {
		if err := s.renewIfDue(ctx, store, addr); err != nil && ctx.Err() == nil {
			s.log.Warn("renewing this node's certificate", "err", err)
		}
		sleepCtx(ctx, every)
	}
}

func (s *Service) renewIfDue(ctx context.Context, store *Store, addr string) error {
	_, certF, keyF := tlsFiles(s.tlsDir())
	b, err := os.ReadFile(certF)
	if err != nil {
		return err
	}
	cur, err := parseCertPEM(b)
	if err != nil {
		return err
	}
	if time.Until(cur.NotAfter) > s.certValidity()/3 {
		return nil
	}
	kb, err := os.ReadFile(keyF)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return errors.New("node key: no PEM")
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := store.Client.Txn(ctx).Then(clientv3.OpGet(KeyCluster), clientv3.OpGet(KeyCAKey)).Commit()
	if err != nil {
		return storeErr(err)
	}
	recKV, keyKV := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
	if len(recKV) == 0 || len(keyKV) == 0 {
		return errors.New("the cluster store holds no CA")
	}
	var rec clusterRecord
	if err := json.Unmarshal(recKV[0].Value, &rec); err != nil {
		return fmt.Errorf("cluster record: %w", err)
	}
	ca, err := LoadCA([]byte(rec.CACert), keyKV[0].Value)
	if err != nil {
		return err
	}
	certPEM, err := ca.SignFor(store.NodeID, addr, &key.PublicKey, s.certValidity())
	if err != nil {
		return err
	}
	if err := atomicfile.Write(certF, certPEM, 0o600); err != nil {
		return err
	}
	next, _ := parseCertPEM(certPEM)
	s.log.Info("node certificate renewed", "node", store.NodeID, "was_valid_until", cur.NotAfter, "now_valid_until", next.NotAfter)
	return nil
}
