package container

import (
	"testing"
	"time"
)

func TestMergeHealthConfig(t *testing.T) {
	img := &HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 5}
	got := MergeHealthConfig(&HealthConfig{Timeout: 2 * time.Second}, img)
	if got.Test[0] != "CMD" || got.Interval != time.Second || got.Timeout != 2*time.Second || got.Retries != 5 {
		t.Fatalf("merged: %+v", got)
	}
	if got := MergeHealthConfig(&HealthConfig{Test: []string{"NONE"}}, img); got.Enabled() {
		t.Fatalf("NONE must disable the image's healthcheck: %+v", got)
	}
	if got := MergeHealthConfig(nil, img); got == img || got.Test[1] != "true" {
		t.Fatalf("nil takes a copy of the image's: %+v", got)
	}
}

func TestHealthConfigValidate(t *testing.T) {
	for _, bad := range []*HealthConfig{
		{Test: []string{"CMD"}},
		{Test: []string{"CMD-SHELL", " "}},
		{Test: []string{"RUN", "x"}},
		{Test: []string{"CMD", "x"}, Interval: time.Microsecond},
		{Test: []string{"CMD", "x"}, Retries: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	for _, ok := range []*HealthConfig{nil, {}, {Test: []string{"NONE"}}, {Test: []string{"CMD-SHELL", "true"}, Interval: time.Millisecond}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
