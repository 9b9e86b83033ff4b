package cluster

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// quietZap is the etcd client's logger: errors only, to stderr. The
// client's reconnect chatter at info level would flood berthd's log
// whenever a member is down.
func quietZap() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	cfg.Sampling = nil
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}
