# berth — build, install, run and test.
#
#   make up      install what berth needs, build it, start berthd, run a first container
#   make test    unit and end-to-end tests against a real stack (root)
#
# Everything berth runs besides its own binaries (containerd, runc, the CNI
# plugins) is built from the Go module proxy into $(LIBEXEC) by `make deps`.

SHELL := /bin/bash
GO ?= go

CONTAINERD_VERSION := v2.3.7
RUNC_VERSION       := v1.5.2
CNI_VERSION        := v1.9.1
# API tools: grpcurl (the reflection and health tests), buf (make lint's
# proto checks).
GRPCURL_VERSION    := v1.9.4
BUF_VERSION        := v1.75.0
# The docker CLI the Docker API's tests drive, built from the module proxy
# only on a machine that has no docker on $PATH (docs/docker-api.md).
DOCKER_CLI_VERSION := v28.2.2
# docker compose v2 and buildx, the docker CLI's plugins the Docker API's
# tests drive, built from the module proxy into $(TOOLSDIR)/cli-plugins.
COMPOSE_VERSION    := v5.6.0
BUILDX_VERSION     := v0.38.2
# dockerode (npm) for the Docker API's client tests, where npm exists.
DOCKERODE_VERSION  := 5.0.1
# playwright-core (npm) drives Debian's chromium in the dashboard's browser
# tests (test/dashboard, docs/dashboard.md).
PLAYWRIGHT_VERSION := 1.65.2
# Go lint tools (make lint).
STATICCHECK_VERSION := v0.8.2
ERRCHECK_VERSION    := v1.30.0

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
# berth's own directory for the parts it runs: containerd, shims, runc, logger, snapshotter.
LIBEXEC ?= $(PREFIX)/lib/berth
CNIDIR  ?= $(LIBEXEC)/cni
# Tools for tests and lint only (grpcurl, buf, staticcheck, errcheck): never on berthd's path.
TOOLSDIR ?= $(LIBEXEC)/tools
BUILD   ?= $(CURDIR)/.build

APT_PACKAGES := libseccomp-dev pkg-config busybox-static iptables nftables iproute2 \
	docker-registry skopeo xfsprogs apache2-utils util-linux procps pigz \
	python3-docker python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc libprotobuf-dev \
	tini chromium nodejs mmdebstrap

BERTH_BINS := berth berthd berth-snapshotter containerd-shim-berth-v2 berth-logger berth-etcd berth-cni-overlay berth-compose berth-buildkitd
CNI_PLUGINS := main/bridge main/macvlan main/loopback main/host-device ipam/host-local \
	meta/portmap meta/firewall meta/tuning

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) \
	-X github.com/berthproject/berth/engine.version=$(VERSION)
# Build tags that leave out code berth never runs (smaller binaries: a Go
# daemon's idle RSS is mostly its binary's pages, docs/performance.md "Idle
# daemons"): urfave/cli's man/markdown generators, grpc's x/net/trace.
GOTAGS  := urfave_cli_no_docs grpcnotrace
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -tags "$(GOTAGS)" -ldflags "$(LDFLAGS)"

.PHONY: all deps apt-deps containerd runc cni-plugins api-tools docker-cli docker-plugins dockerode lint-tools playwright ui-vendor build install up down test test-unit test-dashboard test-e2e fuzz chaos test-known-bugs bench bench-quick proto proto-check lint clean

all: build

## deps: Debian packages, and containerd, runc and CNI plugins built from the module proxy (idempotent)
deps: apt-deps containerd runc cni-plugins api-tools docker-cli docker-plugins lint-tools playwright

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# containerd's daemon is built from cmd/containerd, a module of its own with
# containerd's dependency versions: containerd's server with only the
# plugins berth uses (no CRI, NRI, sandbox API, erofs, metrics...), run by
# a main of berth's own instead of containerd's urfave/cli one (its
# subcommands are not there; cmd/containerd/main.go). A Go daemon's
# idle RSS is mostly its binary's pages: 38.6 MB with everything, 31.1
# without CRI and tracing, 23.8 with berth's plugins (docs/performance.md).
# ctr and containerd's runc shim are containerd's own. Built into a
# temporary dir and moved into place, so a running containerd keeps its
# file. The stamp names the build flavour: a change rebuilds.
# cmd/containerd/goresctrl stands in for intel/goresctrl (block I/O and
# RDT classes, which berth never configures): 0.9 MB less binary.
# cmd/containerd/cgroups stands in for containerd/cgroups (the daemon's own
# [cgroup] path, which berth never sets; its managers brought cilium/ebpf,
# godbus and go-systemd): 1.1 MB. cmd/containerd/metrics stands in for
# Prometheus's client, docker/go-metrics and go-grpc-middleware's
# Prometheus interceptors: without a metrics server (not built in) nothing
# reads a metric: 0.6 MB. cmd/containerd/tracing stands in for
# OpenTelemetry's gRPC, ttrpc and HTTP instrumentation: built with
# no_tracing, containerd only ever had OpenTelemetry's no-op tracer: 0.23 MB.
# For the same reason build.sh builds containerd's pkg/tracing from
# cmd/containerd/notracing, without OpenTelemetry: 0.49 MB.
# cmd/containerd/build.sh builds it with its dependencies vendored into a
# temporary copy, where cmd/containerd/mountformat/format.go replaces
# containerd's mount formatter, which ran text/template: with
# text/template's executor in a binary, the linker keeps every exported
# method of every type put in an interface (3.6 MB of binary).
# no_gogo leaves gogo/protobuf's handler out of containerd/typeurl: it only
# serves gogo-generated messages, and none is linked into containerd, ctr or
# the runc shim (their API types are google.golang.org/protobuf's): 0.5 MB.
CONTAINERD_TAGS := no_btrfs no_devmapper no_zfs no_dynamic_plugins no_cri no_tracing no_rdt no_systemd no_gogo grpcnotrace urfave_cli_no_docs osusergo netgo
containerd: $(LIBEXEC)/.containerd-$(CONTAINERD_VERSION)-berth
# Every source of the module and of its stub modules, at any depth.
CONTAINERD_SRC := $(shell find cmd/containerd \( -name '*.go' ! -name '*_test.go' \) -o -name go.mod -o -name go.sum)
$(LIBEXEC)/.containerd-$(CONTAINERD_VERSION)-berth: $(CONTAINERD_SRC) cmd/containerd/build.sh
	@echo "building containerd $(CONTAINERD_VERSION) (static, berth's plugins only)"
	@grep -q 'github.com/containerd/containerd/v2 $(CONTAINERD_VERSION)$$' cmd/containerd/go.mod || \
		{ echo "cmd/containerd/go.mod does not require containerd $(CONTAINERD_VERSION)"; exit 1; }
	@mkdir -p $(LIBEXEC)
	tmp=$$(mktemp -d $(abspath $(LIBEXEC))/.build-XXXXXX) && \
	GO="$(GO)" cmd/containerd/build.sh -tags "$(CONTAINERD_TAGS)" \
		-ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)" \
		-o $$tmp/containerd && \
	GOBIN=$$tmp CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath \
		-tags "$(CONTAINERD_TAGS)" \
		-ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)" \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION) \
		github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD_VERSION) && \
	mv -f $$tmp/* $(LIBEXEC)/ && rmdir $$tmp
	@touch $@

runc: $(LIBEXEC)/.runc-$(RUNC_VERSION)
$(LIBEXEC)/.runc-$(RUNC_VERSION):
	@echo "building runc $(RUNC_VERSION) (seccomp)"
	@mkdir -p $(LIBEXEC)
	GOBIN=$(LIBEXEC) CGO_ENABLED=1 GOFLAGS=-buildvcs=false $(GO) install -trimpath -tags "seccomp urfave_cli_no_docs" \
		-ldflags "-s -w -X main.version=$(RUNC_VERSION:v%=%)" \
		github.com/opencontainers/runc@$(RUNC_VERSION)
	@touch $@

cni-plugins: $(CNIDIR)/.plugins-$(CNI_VERSION)
$(CNIDIR)/.plugins-$(CNI_VERSION):
	@echo "building CNI plugins $(CNI_VERSION)"
	@mkdir -p $(CNIDIR)
	GOBIN=$(CNIDIR) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "-s -w" \
		$(foreach p,$(CNI_PLUGINS),github.com/containernetworking/plugins/plugins/$(p)@$(CNI_VERSION))
	@touch $@

api-tools: $(TOOLSDIR)/.grpcurl-$(GRPCURL_VERSION) $(TOOLSDIR)/.buf-$(BUF_VERSION)
$(TOOLSDIR)/.grpcurl-$(GRPCURL_VERSION):
	@echo "building grpcurl $(GRPCURL_VERSION)"
	@mkdir -p $(TOOLSDIR)
	GOBIN=$(TOOLSDIR) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "-s -w" \
		github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	@touch $@
$(TOOLSDIR)/.buf-$(BUF_VERSION):
	@echo "building buf $(BUF_VERSION)"
	@mkdir -p $(TOOLSDIR)
	GOBIN=$(TOOLSDIR) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "-s -w" \
		github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

# docker/cli has no go.mod (CalVer): build it from its vendor.mod, with the
# docker/docker pseudo-version it pins (not served) replaced by the tag.
docker-cli: $(TOOLSDIR)/.docker-cli-$(DOCKER_CLI_VERSION)
$(TOOLSDIR)/.docker-cli-$(DOCKER_CLI_VERSION):
	@mkdir -p $(TOOLSDIR)
	@if command -v docker >/dev/null 2>&1; then \
		echo "docker CLI: using $$(command -v docker)"; \
	else \
		echo "building the docker CLI $(DOCKER_CLI_VERSION) into $(TOOLSDIR)"; \
		set -e; tmp=$$(mktemp -d); trap 'chmod -R u+w $$tmp; rm -rf $$tmp' EXIT; \
		cd $$tmp && $(GO) mod init scratch >/dev/null 2>&1; \
		dir=$$(GOFLAGS=-mod=mod $(GO) mod download -json github.com/docker/cli@$(DOCKER_CLI_VERSION)+incompatible | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
		cp -r $$dir src && chmod -R u+w src && cd src && cp vendor.mod go.mod && cp vendor.sum go.sum && rm -rf vendor; \
		$(GO) mod edit -replace github.com/docker/docker=github.com/docker/docker@$(DOCKER_CLI_VERSION)+incompatible; \
		CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -trimpath \
			-ldflags "-s -w -X github.com/docker/cli/cli/version.Version=$(DOCKER_CLI_VERSION:v%=%)" \
			-o $(TOOLSDIR)/docker ./cmd/docker; \
	fi
	@touch $@

# compose and buildx have replace/exclude directives that `go install
# mod@version` refuses: each is built from a scratch module that requires it.
# $(TOOLSDIR)/cli-plugins is where the tests' DOCKER_CONFIG points the docker
# CLI (cliPluginsExtraDirs); nothing is put into the machine's own plugin dirs.
PLUGINDIR := $(TOOLSDIR)/cli-plugins
docker-plugins: $(TOOLSDIR)/.docker-compose-$(COMPOSE_VERSION) $(TOOLSDIR)/.docker-buildx-$(BUILDX_VERSION)
$(TOOLSDIR)/.docker-compose-$(COMPOSE_VERSION):
	@echo "building docker compose $(COMPOSE_VERSION) into $(PLUGINDIR)"
	@mkdir -p $(PLUGINDIR)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; cd $$tmp; \
	$(GO) mod init scratch >/dev/null 2>&1; \
	GOFLAGS=-mod=mod $(GO) get github.com/docker/compose/v5@$(COMPOSE_VERSION); \
	CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" \
		-o $$tmp/docker-compose github.com/docker/compose/v5/cmd; \
	mv -f $$tmp/docker-compose $(PLUGINDIR)/docker-compose
	@touch $@
$(TOOLSDIR)/.docker-buildx-$(BUILDX_VERSION):
	@echo "building docker buildx $(BUILDX_VERSION) into $(PLUGINDIR)"
	@mkdir -p $(PLUGINDIR)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; cd $$tmp; \
	$(GO) mod init scratch >/dev/null 2>&1; \
	GOFLAGS=-mod=mod $(GO) get github.com/docker/buildx@$(BUILDX_VERSION); \
	CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -trimpath \
		-ldflags "-s -w -X github.com/docker/buildx/version.Version=$(BUILDX_VERSION)" \
		-o $$tmp/docker-buildx github.com/docker/buildx/cmd/buildx; \
	mv -f $$tmp/docker-buildx $(PLUGINDIR)/docker-buildx
	@touch $@

lint-tools: $(TOOLSDIR)/.staticcheck-$(STATICCHECK_VERSION) $(TOOLSDIR)/.errcheck-$(ERRCHECK_VERSION)
$(TOOLSDIR)/.staticcheck-$(STATICCHECK_VERSION):
	@echo "building staticcheck $(STATICCHECK_VERSION)"
	@mkdir -p $(TOOLSDIR)
	GOBIN=$(TOOLSDIR) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "-s -w" \
		honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@
$(TOOLSDIR)/.errcheck-$(ERRCHECK_VERSION):
	@echo "building errcheck $(ERRCHECK_VERSION)"
	@mkdir -p $(TOOLSDIR)
	GOBIN=$(TOOLSDIR) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "-s -w" \
		github.com/kisielk/errcheck@$(ERRCHECK_VERSION)
	@touch $@

dockerode: $(TOOLSDIR)/node/.dockerode-$(DOCKERODE_VERSION)
$(TOOLSDIR)/node/.dockerode-$(DOCKERODE_VERSION):
	@mkdir -p $(TOOLSDIR)/node
	@if command -v npm >/dev/null 2>&1; then \
		echo "installing dockerode $(DOCKERODE_VERSION) into $(TOOLSDIR)/node"; \
		npm install --prefix $(TOOLSDIR)/node --no-audit --no-fund --silent dockerode@$(DOCKERODE_VERSION) && touch $@; \
	else \
		echo "no npm: the Docker API's dockerode test will be skipped"; \
	fi

# Into its own prefix (not dockerode's), cached behind a version stamp.
# Debian's nodejs comes without npm (NodeSource's has it): npm then.
playwright: $(TOOLSDIR)/playwright/.playwright-core-$(PLAYWRIGHT_VERSION)
$(TOOLSDIR)/playwright/.playwright-core-$(PLAYWRIGHT_VERSION):
	@mkdir -p $(TOOLSDIR)/playwright
	@command -v npm >/dev/null 2>&1 || { echo "apt: installing npm"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	@echo "installing playwright-core $(PLAYWRIGHT_VERSION) into $(TOOLSDIR)/playwright"
	npm install --prefix $(TOOLSDIR)/playwright --no-audit --no-fund --silent playwright-core@$(PLAYWRIGHT_VERSION)
	@touch $@

## ui-vendor: refresh the dashboard's vendored front-end files from the npm registry (pinned in vendor.sh)
ui-vendor:
	cmd/berthd/internal/ui/vendor.sh

## build: berth's own binaries into .build/
# The shim alone is built with the GOEXPERIMENT in cmd/containerd-shim-berth-v2/GOEXPERIMENT
# (the previous GC: less memory per container, docs/shim.md "Memory").
build: SHIM_GOEXPERIMENT = $(shell cat cmd/containerd-shim-berth-v2/GOEXPERIMENT)
build:
	@mkdir -p $(BUILD)
	$(GOBUILD) -o $(BUILD)/ $(addprefix ./cmd/,$(filter-out containerd-shim-berth-v2,$(BERTH_BINS)))
	GOEXPERIMENT=$(SHIM_GOEXPERIMENT) $(GOBUILD) -o $(BUILD)/ ./cmd/containerd-shim-berth-v2

## install: berth and berthd into $(BINDIR), the parts berthd runs into $(LIBEXEC)
install: build
	install -d $(BINDIR) $(LIBEXEC)
	install -m 0755 $(BUILD)/berth $(BUILD)/berthd $(BINDIR)/
	install -m 0755 $(BUILD)/berth-snapshotter $(BUILD)/containerd-shim-berth-v2 $(BUILD)/berth-logger $(BUILD)/berth-etcd $(BUILD)/berth-compose $(BUILD)/berth-buildkitd $(LIBEXEC)/
	install -d $(CNIDIR)
	install -m 0755 $(BUILD)/berth-cni-overlay $(CNIDIR)/

## up: everything a fresh machine needs, then berthd in the background and a first container
up: deps install
	@test/up.sh

## down: stop berthd (containers keep running; `make down CONTAINERS=stop` stops them first)
down:
	@test/down.sh $(CONTAINERS)

## test: unit tests, then end-to-end tests against a private stack (needs root)
# make test's stacks, the images they unpack and the Go build cache need
# room (about 3 GB at the peak, with an empty build cache): a full disk
# otherwise shows up as "no space left on device" in some test far from
# its cause.
TEST_FREE_MB ?= 5000
.PHONY: check-disk
check-disk:
	@for d in "$${TMPDIR:-/tmp}" "$$($(GO) env GOCACHE)" "$(CURDIR)"; do \
		while [ ! -e "$$d" ]; do d=$$(dirname "$$d"); done; \
		free=$$(df -Pm "$$d" | awk 'NR == 2 { print $$4 }'); \
		if [ "$$free" -lt $(TEST_FREE_MB) ]; then \
			echo "make test: $$free MB free where $$d is; the tests need about $(TEST_FREE_MB) MB there." >&2; \
			echo "  Free some space and run make test again. The Go build cache ($$($(GO) env GOCACHE)) is often the largest: go clean -cache" >&2; \
			exit 1; \
		fi; \
	done

test: check-disk deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m -p 2 $$($(GO) list ./... | grep -v /test/)
	cd cmd/containerd && $(GO) test -count=1 -timeout 10m ./...
	BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 25m ./test/...

test-unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test/)

## test-dashboard: the dashboard's full browser suite (chromium, headless), screenshots in $(BUILD)/dashboard
test-dashboard: deps build
	BERTH_DASHBOARD_FULL=1 BERTH_DASHBOARD_SHOTS=$(BUILD)/dashboard BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) \
		$(GO) test -count=1 -timeout 15m -v -run 'TestDashboard' ./test/dashboard

test-e2e: deps build
	BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 25m -v ./test/...

## test-compose: the whole berth compose suite (make test runs its short version, TestComposeShort)
# TestComposeDebian makes its Debian image first (test/images/mkdebianstack.sh,
# mmdebstrap, cached in /var/cache/berth/images); make test runs it only
# once that image is cached.
.PHONY: test-compose
test-compose: deps build
	BERTH_TEST_COMPOSE_FULL=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 40m -v ./test/compose/

## test-moby: moby's own API integration tests (integration/{container,image,network,volume,system} of Docker 28.2,
# compiled from the Go module proxy) against a private berthd: every test test/moby/allowlist.txt expects to pass.
# make test runs the list's short ones (TestMobyShort).
.PHONY: test-moby
test-moby: deps build
	BERTH_TEST_MOBY_FULL=1 GO=$(GO) BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 80m -v -run 'TestMobyIntegration' ./test/moby

## docker-diff: recorded client requests (test/dockerdiff/requests.json) sent to a private berthd and a private dockerd,
# every difference in status, headers and JSON shape reported; fails on one known.txt does not list (skipped without dockerd)
.PHONY: docker-diff
docker-diff: deps build
	BERTH_TEST_DOCKERDIFF=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 15m -v -run 'TestDockerDiff' ./test/dockerdiff

## test-build-debian: Dockerfile builds on a real debian:bookworm (test/images/mkdebian.sh, mmdebstrap,
# cached in /var/cache/berth/images): nginx through a published port, a Go multi-stage build, a cache
# mount; their RUN steps reach Debian's mirror. make test runs the busybox builds (TestBuild*).
.PHONY: test-build-debian
test-build-debian: deps build
	BERTH_TEST_DEBIAN=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 40m -v -run 'TestBuildDebian' ./test/e2e

## test-cgroupv2: the resource, lifecycle and shim tests in a cgroup v2 VM (qemu; see docs/operations.md)
# Installs mmdebstrap and qemu-system-x86, builds the VM image once (cached
# in /var/cache/berth/cgroupv2 under its recipe's hash), boots it with KVM
# when the machine has hardware virtualisation, else with software emulation.
.PHONY: test-cgroupv2
test-cgroupv2: deps build
	BUILD=$(BUILD) LIBEXEC=$(LIBEXEC) GO=$(GO) test/cgroupv2/run.sh

## test-cluster: the full cluster scenarios (three netns "hosts": kill -9, SIGSTOP, a cut link, etcd member faults, leave/rejoin); make test runs the short one
.PHONY: test-cluster
test-cluster: deps build
	BERTH_TEST_CLUSTER_FULL=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 30m -v ./test/cluster

## test-powercut: power cuts at five moments while every kind of write is in flight (make test cuts once)
.PHONY: test-powercut
test-powercut: deps build
	BERTH_TEST_POWERCUT_FULL=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 30m -v \
		-run '^TestPowerCutMidWrite$$' ./test/e2e

## fuzz: every fuzz test for FUZZTIME each (crashers land in testdata/fuzz: commit them as seeds)
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) test/fuzz.sh

## chaos: the full chaos soak (docs/reliability.md); CHAOSFLAGS e.g. -chaos.cycles=50 -chaos.seed=7
CHAOSFLAGS ?=
## test-known-bugs: the e2e tests make test skips because they still find an open bug now and then
# (KNOWN_BUGS, a -run pattern; none at the moment: docs/reliability.md)
KNOWN_BUGS :=
test-known-bugs: deps build
	@if [ -z "$(KNOWN_BUGS)" ]; then echo "no known open bugs: make test runs every e2e test"; exit 0; fi; \
	BERTH_TEST_KNOWN_BUGS=1 BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 20m -v \
		-run '^($(KNOWN_BUGS))$$' ./test/e2e

chaos: deps build
	BERTH_BUILD=$(BUILD) BERTH_LIBEXEC=$(LIBEXEC) $(GO) test -count=1 -timeout 3h -v -run '^TestChaos$$' \
		./test/chaos -chaos $(CHAOSFLAGS)

## bench: berth against Docker, podman and containerd on this machine (see docs/performance.md)
bench: deps build
	$(GO) run ./test/bench $(BENCHFLAGS)

bench-quick:
	$(MAKE) bench BENCHFLAGS=--quick

## proto: regenerate the gRPC API's Go code from proto/berth/v1/*.proto (the result is committed)
# protoc from Debian (protobuf-compiler; libprotobuf-dev has the well-known types),
# the Go plugins at versions matching go.mod's google.golang.org/protobuf and grpc.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
proto:
	@command -v protoc >/dev/null && test -f /usr/include/google/protobuf/timestamp.proto || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null)
	GOBIN=$(BUILD)/tools $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BUILD)/tools $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(BUILD)/tools:$$PATH protoc -I proto -I /usr/include \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/berth/v1/*.proto
	# berth-snapshotter's copy of containerd's Snapshots messages (docs/snapshotter.md)
	PATH=$(BUILD)/tools:$$PATH protoc -I snapshotter/internal \
		-I $$($(GO) list -m -f '{{.Dir}}' github.com/containerd/containerd/api) -I /usr/include \
		--go_out=snapshotter/internal --go_opt=paths=source_relative \
		snapshotter/internal/snapshotsapi/snapshots.proto

## lint: gofmt, go vet, staticcheck (staticcheck.conf) and errcheck (.errcheck-excludes
# lists the calls whose error is ignored on purpose; tests are not checked), then the proto checks
lint: proto-check lint-tools
	gofmt -l $$(git ls-files '*.go') | tee /dev/stderr | (! read)
	$(GO) vet ./...
	$(TOOLSDIR)/staticcheck ./...
	$(TOOLSDIR)/errcheck -ignoretests -exclude .errcheck-excludes ./...
	cd cmd/containerd && $(GO) vet ./... && $(TOOLSDIR)/staticcheck ./... && $(TOOLSDIR)/errcheck -ignoretests ./...

## proto-check: buf lint, then buf breaking against main's last committed .proto files
# (config: proto/buf.yaml; docs/api.md "Stability"). PROTO_BASE is the git
# ref compared with; PROTO_AGAINST, when set, a directory of .proto files
# compared with instead; PROTO_DIR the files checked.
BUF           := $(TOOLSDIR)/buf
PROTO_DIR     ?= proto
# main, or origin/main in a clone without a local main branch.
PROTO_BASE    ?= $(shell git rev-parse -q --verify main >/dev/null 2>&1 && echo main || echo origin/main)
PROTO_AGAINST ?=
proto-check: $(TOOLSDIR)/.buf-$(BUF_VERSION)
	cd $(PROTO_DIR) && $(BUF) lint
	@base="$(PROTO_AGAINST)"; \
	if [ -z "$$base" ]; then \
		tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		git rev-parse -q --verify "$(PROTO_BASE)" >/dev/null || \
			{ echo "proto-check: no git ref $(PROTO_BASE) to compare the .proto files with; fetch main or set PROTO_BASE=<ref>" >&2; exit 1; }; \
		git archive $(PROTO_BASE) proto | tar -x -C "$$tmp" && base="$$tmp/proto" || exit 1; \
	fi; \
	echo "buf breaking against $${PROTO_AGAINST:-$(PROTO_BASE):proto}"; \
	cd $(PROTO_DIR) && $(BUF) breaking --against "$$base"

clean:
	rm -rf $(BUILD)
