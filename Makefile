# footprint_exporter — `make run` and `make test` work from a fresh Debian/Ubuntu machine.
SWIFT        ?= swift
BUILD_FLAGS  ?=
ARGS         ?=
PYTHON       ?= python3
# What building and running need (`make run`), and what only the tests add (`make test`; Tests/Deploy/install-deps.sh
# installs the rest: alertmanager, kubectl, chromium, Python packages).
APT_PACKAGES      := libmicrohttpd-dev libgnutls28-dev libcrypt-dev libyaml-dev zlib1g-dev libcurl4-gnutls-dev pkg-config
TEST_APT_PACKAGES := openssl prometheus
E2E_DIRS     := Tests/EndToEnd Tests/Deploy Tests/Integration Tests/UI
# The shipped build's flags, one list for make, the benchmark and the image; scripts/release-flags.sh says why each
# (bench/analysis.md measures them).
RELEASE_FLAGS ?= $(or $(shell scripts/release-flags.sh),$(error scripts/release-flags.sh printed no flags))

.PHONY: all deps test-deps build build-release run test unit e2e test-repeat generate sanitize sanitize-address sanitize-thread fuzz bench bench-quick format clean image dist dist-package

all: build

# Installs the missing ones of a list of system packages with apt when run as root; otherwise says what is missing.
apt_install = @missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (run make as root, or: sudo apt-get install --no-install-recommends$$missing)"; exit 1; fi; \
	fi

# What the build needs, and nothing else: `make run` and `make build` install only these.
deps:
	$(call apt_install,$(APT_PACKAGES))

# What the tests need besides: openssl and promtool here, the rest from Tests/Deploy/install-deps.sh.
test-deps: deps
	$(call apt_install,$(TEST_APT_PACKAGES))
	@sh Tests/Deploy/install-deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

build-release: deps
	$(SWIFT) build $(RELEASE_FLAGS) $(BUILD_FLAGS)

# Starts the exporter on its defaults (:9636, /sys, /proc); pass more flags with ARGS="--pue=1.2".
run: build-release
	./.build/release/footprint_exporter $(ARGS)

unit: test-deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

e2e: test-deps build
	$(PYTHON) -m pytest -q $(E2E_DIRS)

test: unit e2e sanitize-address bench-quick

# The unit tests REPEAT times in a row (default 50) with one core kept busy, as CI's loaded machine runs them; stops at
# the first failure. `scripts/test-repeat.sh N -- COMMAND` repeats any other command the same way.
REPEAT ?= 50
test-repeat: test-deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	scripts/test-repeat.sh $(REPEAT) -- $(SWIFT) test --skip-build $(BUILD_FLAGS)

# Rewrites what is generated from the setting and metric catalogues (the command line's options, docs/settings.md,
# docs/metrics.md, the flag table of docs/configuration.md); review the diff before committing.
generate:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	UPDATE_GOLDEN=1 $(SWIFT) test --skip-build --filter GeneratedFilesTests $(BUILD_FLAGS)

# The unit tests under AddressSanitizer and ThreadSanitizer, each in its own build folder.
sanitize: sanitize-address sanitize-thread

sanitize-address: test-deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/.lsan-suppressions $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

sanitize-thread: test-deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

# libFuzzer over the config, web-config, state-file, sysfs and grid-intensity (the intensity file, the providers'
# answers) parsers for FUZZ_SECONDS each. A crash leaves its input in Fuzz/Regressions/<parser>/, which
# FuzzRegressionTests then replays in every `make test`.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := .build/fuzz
fuzz: deps
	cd Fuzz && $(SWIFT) build -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --scratch-path $(FUZZ_BUILD)
	@bin=$$(cd Fuzz && $(SWIFT) build --show-bin-path --scratch-path $(FUZZ_BUILD)); \
	for pair in Config:config WebConfig:webconfig StateFile:state SysfsValues:sysfs GridInputs:grid; do \
	  target=$${pair%%:*}; corpus=$${pair##*:}; mkdir -p Fuzz/$(FUZZ_BUILD)/corpus/$$corpus; \
	  echo "fuzzing $$target for $(FUZZ_SECONDS)s"; \
	  $$bin/Fuzz$$target -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=Fuzz/Regressions/$$corpus/ Fuzz/$(FUZZ_BUILD)/corpus/$$corpus Fuzz/Corpus/$$corpus || exit 1; \
	done

bench-quick:
	bench/run.sh --quick

bench:
	bench/run.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

# The container image of deploy/docker/Dockerfile, built with the first of docker, podman and buildah on PATH (or
# CONTAINER_TOOL). Push it and point the kustomization's `images:` at it: docs/deployment.md says how.
VERSION        = $(shell sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/FootprintExporter/Lifecycle/BuildInfo.swift)
IMAGE         ?= footprint-exporter
IMAGE_TAG     ?= $(VERSION)
CONTAINER_TOOL ?=
image:
	@tool="$(CONTAINER_TOOL)"; \
	if [ -z "$$tool" ]; then for t in docker podman buildah; do if command -v $$t >/dev/null 2>&1; then tool=$$t; break; fi; done; fi; \
	if [ -z "$$tool" ] || ! command -v "$$tool" >/dev/null 2>&1; then \
	  echo "make image: no container build tool: none of docker, podman or buildah is on PATH; install one (e.g. apt-get install podman) or set CONTAINER_TOOL" >&2; exit 1; \
	fi; \
	case "$$(basename "$$tool")" in buildah) build="bud" ;; *) build="build" ;; esac; \
	echo "$$tool $$build -f deploy/docker/Dockerfile -t $(IMAGE):$(IMAGE_TAG) ."; \
	"$$tool" $$build -f deploy/docker/Dockerfile -t "$(IMAGE):$(IMAGE_TAG)" .

# dist/footprint_exporter-<version>-linux-<arch>.tar.gz: the release binary, the systemd unit and defaults, a default
# config, the rules, the dashboards and SHA256SUMS (scripts/dist.sh lists them). `make dist` builds the release binary
# first; `make dist-package BINARY=path` packages a binary already built.
BINARY   ?= .build/release/footprint_exporter
DIST_DIR ?= dist
dist: build-release
	@$(MAKE) --no-print-directory dist-package

dist-package:
	scripts/dist.sh "$(BINARY)" "$(DIST_DIR)"

clean:
	rm -rf .build dist
