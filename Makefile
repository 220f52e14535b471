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
FUZZ_BUILD_DIR  ?= build-fuzz
ASAN_BUILD_DIR  ?= build-asan
TSAN_BUILD_DIR  ?= build-tsan
# Seconds per fuzz target in `make test` (fuzz-smoke); tools/fuzz runs longer.
FUZZ_SECONDS ?= 20
# Integration suites that run lb with several workers: the TSan run.
TSAN_SUITES ?= proxy reload drain metrics observe accesslog checks errors resilience tls
# ccache, when installed, makes the second compiler's tree cheap in CI. One
# cache for every tree (g++, clang, sanitizers, fuzz), kept in the main build
# tree unless CCACHE_DIR says otherwise: CI that keeps build/ keeps the cache.
# CCACHE_BASEDIR makes paths relative, so another clone's tree hits it too.
CCACHE     := $(shell command -v ccache 2>/dev/null)
CMAKE_LAUNCHER := $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_DIR ?= $(CURDIR)/$(BUILD_DIR)/ccache
export CCACHE_BASEDIR ?= $(CURDIR)

BUILD_DEPS := cmake make g++ pkg-config libboost-dev libboost-program-options-dev \
              libboost-system-dev libyaml-cpp-dev libssl-dev prometheus-cpp-dev \
              libre2-dev libjemalloc-dev libxxhash-dev nlohmann-json3-dev libgtest-dev libgmock-dev \
              libnghttp2-dev
TEST_DEPS  := python3 python3-yaml python3-cryptography curl procps prometheus chromium \
              docker.io debootstrap golang-go golang-github-masterminds-sprig-dev \
              golang-k8s-sigs-yaml-dev logrotate systemd dpkg-dev iproute2 \
              nghttp2-client python3-grpcio strace
# Node only when missing: a machine may have another nodejs build (with its own npm).
NODE_DEPS  := nodejs npm
BENCH_DEPS := wrk nginx-light libnginx-mod-stream haproxy valgrind
# CI also builds the Release tree with clang (clang 14 on Debian 12), and the
# libFuzzer targets (the fuzzer and sanitizer runtimes: libclang-rt-14-dev).
CLANG_DEPS := clang clang-14 libclang-rt-14-dev

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build build-clang build-fuzz fuzz-smoke build-asan test-asan build-tsan test-tsan \
        deps test-deps clang-deps ci-deps bench-deps run test bench clean

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

clang-deps:
	$(call apt_install,$(CLANG_DEPS))

# Everything CI installs, first: its builds then run side by side and never
# race for apt's lock.
ci-deps: test-deps clang-deps

bench-deps: deps
	$(call apt_install,$(BENCH_DEPS))

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLB_WERROR=$(WERROR) $(CMAKE_LAUNCHER)
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The clang Release tree, lb only (run by .ci/run after make test).
build-clang: deps clang-deps
	CC=clang CXX=clang++ cmake -S . -B $(CLANG_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release \
	  -DLB_WERROR=ON -DBUILD_TESTING=OFF $(CMAKE_LAUNCHER)
	cmake --build $(CLANG_BUILD_DIR) -j $(JOBS) --target lb

# libFuzzer targets only (tests/fuzz), clang with ASan+UBSan; see tools/fuzz.
build-fuzz: deps clang-deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DLB_FUZZ=ON -DLB_WERROR=ON -DBUILD_TESTING=OFF $(CMAKE_LAUNCHER)
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz

# Each fuzz target for FUZZ_SECONDS over its seeds, $(JOBS) at a time; any
# crash fails (its input is left in $(FUZZ_BUILD_DIR)/crashes/TARGET/).
fuzz-smoke: build-fuzz
	@targets=$$(FUZZ_BUILD_DIR=$(CURDIR)/$(FUZZ_BUILD_DIR) tools/fuzz --list | sed 's/^targets: //'); \
	[ -n "$$targets" ] || { echo "fuzz-smoke: no fuzz targets found"; exit 1; }; \
	mkdir -p $(FUZZ_BUILD_DIR)/logs; \
	echo $$targets | tr ' ' '\n' | xargs -P $(JOBS) -I{} sh -c \
	  'FUZZ_NO_BUILD=1 FUZZ_BUILD_DIR=$(CURDIR)/$(FUZZ_BUILD_DIR) tools/fuzz {} $(FUZZ_SECONDS) \
	     >$(FUZZ_BUILD_DIR)/logs/{}.log 2>&1 && echo "fuzz {}: ok ($$(grep -o "number_of_executed_units: [0-9]*" $(FUZZ_BUILD_DIR)/logs/{}.log))" \
	     || { echo "fuzz {}: FAILED"; tail -40 $(FUZZ_BUILD_DIR)/logs/{}.log; exit 1; }'

# Sanitizer trees (g++): reports go to files, and any file fails the run, so
# a report from an lb that a test stopped (and whose exit status it ignored)
# still counts. Suppressions: tests/sanitizers/, named third-party only.
SAN_DIR   = $(CURDIR)/tests/sanitizers
SAN_ENV   = LB_SANITIZED=1 ASAN_OPTIONS=log_path=$(1)/san/asan:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0 \
            LSAN_OPTIONS=suppressions=$(SAN_DIR)/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=log_path=$(1)/san/ubsan:halt_on_error=1:print_stacktrace=1:suppressions=$(SAN_DIR)/ubsan.supp \
            TSAN_OPTIONS=log_path=$(1)/san/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$(SAN_DIR)/tsan.supp
# Fails listing every report file under $(1)/san.
define san_check
	@if ls $(1)/san/* >/dev/null 2>&1; then echo "sanitizer reports:"; head -60 $(1)/san/*; exit 1; fi
endef

# The sanitizer trees keep -g1 (line tables are all a report needs). TSan's
# (clang) is at -O1, the level the sanitizers' authors advise; the ASan tree
# (g++) at -Og, g++'s -O1 without the passes that cost most to compile: about
# half the compile time of -O1 on the heaviest sources, and a whole ASan tree
# is the largest build CI makes. (clang reads -Og as -O1.)
SAN_CMAKE = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(1) -g1 -DNDEBUG" \
            -DLB_WERROR=$(WERROR) $(CMAKE_LAUNCHER)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) $(call SAN_CMAKE,-Og) -DLB_SANITIZE=ON
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)

# Every unit and integration test against the ASan+UBSan build (the shipping
# tests package the plain Release build and are not rerun here).
test-asan: test-deps build-asan
	rm -rf $(ASAN_BUILD_DIR)/san && mkdir -p $(ASAN_BUILD_DIR)/san
	cd $(ASAN_BUILD_DIR) && $(call SAN_ENV,$(CURDIR)/$(ASAN_BUILD_DIR)) \
	  ctest --output-on-failure --timeout 1800 -j 2 -E '^ship\.'
	$(call san_check,$(ASAN_BUILD_DIR))

# clang's TSan; the tree is also CI's clang build of lb (-Werror).
build-tsan: deps clang-deps
	CC=clang CXX=clang++ cmake -S . -B $(TSAN_BUILD_DIR) $(call SAN_CMAKE,-O1) -DLB_TSAN=ON
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target lb lb-backend

# The multi-worker integration suites against the TSan build.
test-tsan: test-deps build-tsan
	rm -rf $(TSAN_BUILD_DIR)/san && mkdir -p $(TSAN_BUILD_DIR)/san
	cd $(TSAN_BUILD_DIR) && $(call SAN_ENV,$(CURDIR)/$(TSAN_BUILD_DIR)) \
	  ctest --output-on-failure --timeout 1800 -j 2 -R '^integration\.($(subst $(eval) ,|,$(strip $(TSAN_SUITES))))$$'
	$(call san_check,$(TSAN_BUILD_DIR))

run: build
	tools/demo/run.sh $(BUILD_DIR)

# -j2: the long shipping tests (image build, package) overlap the
# integration tests, which mostly wait on sockets.
test: test-deps build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1800 -j 2
	$(MAKE) --no-print-directory fuzz-smoke

bench: bench-deps build
	tools/bench/bench.sh --build-dir $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(CLANG_BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR)
