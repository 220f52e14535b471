# Two commands do everything on a fresh Debian 12 machine:
#   make run   build, start three demo backends and lb in front of them
#   make test  build and run every test (unit, integration, and the shipping
#              checks: container image built and run, Helm chart, kustomize,
#              systemd unit, Debian package) with CTest
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
# -Werror for the Makefile's builds (make test, CI); plain cmake leaves it off.
WERROR     ?= ON
CLANG_BUILD_DIR ?= build-clang
# ccache, when installed, makes the second compiler's tree cheap in CI.
CCACHE     := $(shell command -v ccache 2>/dev/null)
CMAKE_LAUNCHER := $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

BUILD_DEPS := cmake make g++ pkg-config libboost-dev libboost-program-options-dev \
              libboost-system-dev libyaml-cpp-dev libssl-dev prometheus-cpp-dev \
              libre2-dev libjemalloc-dev libxxhash-dev nlohmann-json3-dev libgtest-dev libgmock-dev \
              libnghttp2-dev
TEST_DEPS  := python3 python3-yaml curl procps prometheus chromium \
              docker.io debootstrap golang-go golang-github-masterminds-sprig-dev \
              golang-k8s-sigs-yaml-dev logrotate systemd dpkg-dev iproute2 \
              nghttp2-client
# Node only when missing: a machine may have another nodejs build (with its own npm).
NODE_DEPS  := nodejs npm
BENCH_DEPS := wrk nginx-light haproxy valgrind
# CI also builds the Release tree with clang (clang 14 on Debian 12).
CLANG_DEPS := clang

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build build-clang deps test-deps bench-deps run test bench clean

all: build

# Installs only what is missing, so a machine that has everything never calls apt.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEPS))

test-deps: deps
	$(call apt_install,$(TEST_DEPS))
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(NODE_DEPS); \
	fi
	@# playwright-core drives Debian's chromium; it downloads no browser.
	@cmp -s tools/browser/package-lock.json tools/browser/node_modules/.lb-installed || { \
	  npm ci --prefix tools/browser --no-audit --no-fund && \
	  cp tools/browser/package-lock.json tools/browser/node_modules/.lb-installed; }
	@# kubectl (for `kubectl kustomize`) only when missing: Debian's is old but renders.
	@command -v kubectl >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends kubernetes-client; }

bench-deps: deps
	$(call apt_install,$(BENCH_DEPS))

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLB_WERROR=$(WERROR) $(CMAKE_LAUNCHER)
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The clang Release tree, lb only (run by .ci/run after make test).
build-clang: deps
	$(call apt_install,$(CLANG_DEPS))
	CC=clang CXX=clang++ cmake -S . -B $(CLANG_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release \
	  -DLB_WERROR=ON -DBUILD_TESTING=OFF $(CMAKE_LAUNCHER)
	cmake --build $(CLANG_BUILD_DIR) -j $(JOBS) --target lb

run: build
	tools/demo/run.sh $(BUILD_DIR)

# -j2: the long shipping tests (image build, package) overlap the
# integration tests, which mostly wait on sockets.
test: test-deps build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1800 -j 2

bench: bench-deps build
	tools/bench/bench.sh --build-dir $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(CLANG_BUILD_DIR)
