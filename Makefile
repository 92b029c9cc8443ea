# fasthttp — the two commands: `make run` and `make test`.
#
#   make run     install missing packages, build Release, start the example
#                app on port 3000 (EXAMPLE=hello|controllers|..., PORT=...);
#                Ctrl-C stops it gracefully and make exits 0
#   make test    install missing packages, build, run every test, then again
#                under AddressSanitizer + UndefinedBehaviorSanitizer and under
#                ThreadSanitizer
#   make bench   benchmarks (bench/run, BENCH_ARGS=--quick for a short run),
#                results in docs/benchmarks.md
#   make fuzz    libFuzzer targets for FUZZ_SECONDS each (default 600)
#   make docs    the API reference from the public headers (Doxygen) into
#                build-docs/html; fails if a public declaration is undocumented
#   make tsan    the tests under ThreadSanitizer
#   make clean

# cmake --build runs make below this one: without this, every step of it
# prints "Entering directory" and "Leaving directory" lines.
MAKEFLAGS += --no-print-directory

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
BUILD    ?= build
RELEASE  ?= build-release
EXAMPLE  ?= $(if $(wildcard examples/controllers/CMakeLists.txt),controllers,hello)
PORT     ?= 3000
CMAKE    ?= cmake
CTEST    ?= ctest
FUZZ_SECONDS ?= 600

.PHONY: all deps build release run test test-fast asan tsan bench fuzz docs clean install

all: build

# The package check runs once, and again only when the script changes: a
# build with everything present starts compiling at once.
DEPS_STAMP := build-deps/.installed

deps: $(DEPS_STAMP)

$(DEPS_STAMP): scripts/install-deps.sh $(wildcard scripts/npm/package.json)
	@./scripts/install-deps.sh
	@mkdir -p build-deps && touch $@

build: deps
	@$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build $(BUILD) -j $(JOBS)

release: deps
	@$(CMAKE) -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DFH_BUILD_TESTS=OFF >/dev/null
	@$(CMAKE) --build $(RELEASE) -j $(JOBS)

# scripts/foreground gives the example the terminal to itself, so Ctrl-C
# reaches it alone: it stops gracefully, exits 0, and so does make.
run: release
	@echo "Starting examples/$(EXAMPLE) on http://127.0.0.1:$(PORT) (Ctrl-C stops it)"
	@PORT=$(PORT) exec ./scripts/foreground $(RELEASE)/examples/$(EXAMPLE)/$(EXAMPLE)

test: build
	@cd $(BUILD) && $(CTEST) --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory tsan

test-fast: build
	@cd $(BUILD) && $(CTEST) --output-on-failure -j $(JOBS)

asan: deps
	@$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DFH_SANITIZE=address,undefined -DFH_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(CTEST) --output-on-failure -j $(JOBS) -LE nosan

tsan: deps
	@$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DFH_SANITIZE=thread -DFH_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1 $(CTEST) --output-on-failure -j $(JOBS) -LE nosan

bench: deps
	@./scripts/install-deps.sh --bench
	@$(CMAKE) -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build build-release -j $(JOBS)
	@FH_BENCH_SERVER=$(CURDIR)/build-release/examples/bench_server/fh_bench_server bench/run $(BENCH_ARGS)

fuzz: deps
	@$(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	    -DFH_BUILD_FUZZ=ON -DFH_WITH_TCMALLOC=OFF -DFH_BUILD_TESTS=OFF -DFH_BUILD_BENCH=OFF \
	    -DFH_BUILD_EXAMPLES=OFF >/dev/null
	@$(CMAKE) --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/tests/fuzz/fuzz_*; do \
	    name=$$(basename $$f); mkdir -p tests/fuzz/corpus-run/$$name; \
	    echo "== $$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        tests/fuzz/corpus-run/$$name tests/fuzz/corpus/$${name#fuzz_} || exit 1; \
	done

docs: deps
	@rm -rf build-docs && mkdir -p build-docs
	@doxygen docs/Doxyfile
	@if grep -q 'is not documented' build-docs/warnings.log; then \
	    grep 'is not documented' build-docs/warnings.log; \
	    echo "make docs: $$(grep -c 'is not documented' build-docs/warnings.log) undocumented public declaration(s)"; \
	    exit 1; \
	fi
	@echo "API reference: build-docs/html/index.html"

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz build-bench build-docs build-deps
