# footprint_exporter — `make run` and `make test` work from a fresh Debian/Ubuntu machine.
SWIFT        ?= swift
BUILD_FLAGS  ?=
ARGS         ?=
PYTHON       ?= python3
APT_PACKAGES := libmicrohttpd-dev libgnutls28-dev libcrypt-dev openssl prometheus
E2E_DIRS     := Tests/EndToEnd Tests/Deploy Tests/Integration

.PHONY: all deps test-deps build build-release run test unit e2e bench bench-quick format clean

all: build

# Installs missing system packages with apt when run as root; otherwise says what is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (run make as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

test-deps: deps
	@sh Tests/Deploy/install-deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

build-release: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)

# Starts the exporter on its defaults (:9636, /sys, /proc); pass more flags with ARGS="--pue=1.2".
run: build-release
	./.build/release/footprint_exporter $(ARGS)

unit: test-deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

e2e: test-deps build
	$(PYTHON) -m pytest -q $(E2E_DIRS)

test: unit e2e

bench:
	bench/run.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build
