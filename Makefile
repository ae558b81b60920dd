# Makefile — a thin wrapper over CMake for the usual runs.
#
#   make test     plain build (build/) and ASan+UBSan build (build-asan/), both
#                 with CTest; ends with "N passed, N failed", non-zero on failure
#   make asan     only the sanitizer pass
#   make demo     build and run examples/ticks: a feed actor publishing ticks
#                 over shm to a processing actor and a broadcast to subscriber
#                 actors, with live rates and latency percentiles, then a clean
#                 cancel (ARGS="--seconds 10 --subs 4"; DEMO=tree runs the
#                 supervision tour examples/tree instead)
#   make bench    Release build (build-release/), run axle-bench $(ARGS)
#                 (also installs ZeroMQ, a baseline)
#   make fuzz     clang + libFuzzer build (build-fuzz/), run each fuzz target
#                 for FUZZ_SECONDS (default 60) on a copy of its corpus
#   make format   clang-format every C source and header in place
#   make clean    remove the build directories
#
# Every target that builds first installs missing Debian packages
# (scripts/deps.sh; `make fuzz` also clang and libFuzzer).

JOBS := $(shell nproc)
MAKEFLAGS += --no-print-directory # CMake's own makefiles run under this one
PASS := cmake/test-pass.sh
SUMMARY := cmake/test-summary.sh

# Sanitizer runs: slower, so check's per-test timeouts are stretched; leaks
# are errors; UBSan stops at the first report, with a stack.
ASAN_ENV := CK_TIMEOUT_MULTIPLIER=4 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:print_summary=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

PLAIN_PASS := $(PASS) build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_PASS := env $(ASAN_ENV) $(PASS) build-asan -DCMAKE_BUILD_TYPE=Debug -DAXLE_SANITIZE=ON

FUZZ_SECONDS ?= 60

.PHONY: deps test asan demo bench fuzz format clean

deps:
	@sh scripts/deps.sh

# Both passes always run; the summary and the exit status cover both.
test: deps
	@status=0; \
	$(PLAIN_PASS) || status=1; \
	$(ASAN_PASS) || status=1; \
	$(SUMMARY) build build-asan || status=1; \
	exit $$status

asan: deps
	@status=0; \
	$(ASAN_PASS) || status=1; \
	$(SUMMARY) build-asan || status=1; \
	exit $$status

# The headline demo alone: its table is the point, and tree's output (errors
# and a SIGSEGV on purpose) would bury it.
DEMO ?= ticks
demo: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j $(JOBS) --target $(DEMO)
	./build/examples/$(DEMO) $(ARGS)

bench: deps
	@sh scripts/deps.sh bench
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release -j $(JOBS) --target axle-bench
	@mkdir -p bench/results
	./build-release/bench/axle-bench $(ARGS)

# Only the libFuzzer targets and the library they test, instrumented.
fuzz: deps
	@sh scripts/deps.sh fuzz
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAXLE_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target axle-fuzzers
	sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# Tracked and new (not ignored) files, so build trees are never touched.
format:
	git ls-files -z --cached --others --exclude-standard -- '*.c' '*.h' \
		| xargs -0 -r clang-format -i

clean:
	rm -rf build build-asan build-release build-fuzz
