# `make test` runs every fuzzer for a few seconds over its seeds, in the
# AddressSanitizer build (clang), when libFuzzer links. `make fuzz` builds the
# same targets on their own for long runs (FH_BUILD_FUZZ, FUZZ_SECONDS).
set(FH_FUZZ_SMOKE_SECONDS 8 CACHE STRING "Seconds each fuzzer runs inside make test (0: none)")
if(FH_FUZZ_SMOKE_SECONDS AND NOT FH_BUILD_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang"
   AND FH_SANITIZE MATCHES "address")
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
  check_c_source_compiles("
    #include <stddef.h>
    #include <stdint.h>
    int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
    FH_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(FH_HAVE_LIBFUZZER)
    add_subdirectory(${CMAKE_CURRENT_LIST_DIR} ${PROJECT_BINARY_DIR}/tests/fuzz)
  else()
    message(STATUS "fuzzers: libFuzzer not found, make test runs none")
  endif()
endif()
