# Included by tests/CMakeLists.txt. With clang and libFuzzer at hand, builds
# the fuzz targets and registers a short, time-bounded run of each as a test
# (label "fuzz"), so that `make test` fuzzes a little every time; `make fuzz`
# runs them for longer. New inputs go to a corpus in the build tree, never
# into the seed corpus tests/fuzz/corpus/<name>.
set(FH_FUZZ_TEST_SECONDS 10 CACHE STRING "Seconds each fuzz target runs under ctest")

# ThreadSanitizer builds cannot add AddressSanitizer, which the targets use.
if(CMAKE_C_COMPILER_ID MATCHES "Clang" AND NOT FH_SANITIZE MATCHES "thread")
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer)
  check_c_source_compiles("
    #include <stddef.h>
    #include <stdint.h>
    int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
    FH_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
endif()

if(FH_HAVE_LIBFUZZER)
  include(${CMAKE_CURRENT_LIST_DIR}/fuzzers.cmake)
  foreach(name ${FH_FUZZ_TARGETS})
    string(REGEX REPLACE "^fuzz_" "" short ${name})
    set(run_dir ${PROJECT_BINARY_DIR}/fuzz-corpus/${name})
    # sh: the seed corpus is passed only when the target has one.
    add_test(NAME fuzz.${name}
             COMMAND sh -c "mkdir -p \"$1\" && if [ -d \"$2\" ]; then exec \"$0\" \
-max_total_time=${FH_FUZZ_TEST_SECONDS} -print_final_stats=1 \"$1\" \"$2\"; else exec \"$0\" \
-max_total_time=${FH_FUZZ_TEST_SECONDS} -print_final_stats=1 \"$1\"; fi"
                     $<TARGET_FILE:${name}> ${run_dir} ${CMAKE_CURRENT_LIST_DIR}/corpus/${short})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz
                         TIMEOUT 300)
  endforeach()
else()
  message(STATUS "fuzz: libFuzzer not available with this compiler; fuzz tests skipped")
endif()
