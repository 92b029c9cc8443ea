# libFuzzer targets: one executable per listed tests/fuzz/fuzz_*.c.
#
# Included from tests/fuzz/CMakeLists.txt (FH_BUILD_FUZZ=ON, `make fuzz`)
# and from tests/fuzz/tests.cmake (any clang build with tests, so that
# `make test` runs each target for a short while). Needs clang.
#
# libFuzzer steers by coverage, which only instrumented code reports, so the
# targets do not link the plain library: they link fh_fuzz_objects, the same
# sources (FH_SOURCES, set by the top-level CMakeLists.txt) compiled with
# -fsanitize=fuzzer-no-link,address,undefined. A target may include internal
# headers ("router/radix.h") like the tests do.

set(FH_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                  -fno-omit-frame-pointer)

if(NOT TARGET fh_fuzz_objects)
  add_library(fh_fuzz_objects OBJECT ${FH_SOURCES})
  target_include_directories(fh_fuzz_objects PUBLIC ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_SOURCE_DIR})
  target_compile_definitions(fh_fuzz_objects PUBLIC _GNU_SOURCE
    PRIVATE $<TARGET_PROPERTY:fh_objects,COMPILE_DEFINITIONS>)
  target_compile_options(fh_fuzz_objects PRIVATE -fsanitize=fuzzer-no-link,address,undefined
                         -fno-omit-frame-pointer)
  target_link_libraries(fh_fuzz_objects PUBLIC PkgConfig::LIBUV PkgConfig::JANSSON
                        PkgConfig::OPENSSL Threads::Threads fh_llhttp)
  if(ZLIB_FOUND)
    target_link_libraries(fh_fuzz_objects PUBLIC ZLIB::ZLIB)
  endif()
endif()

# One target per parser entry point, tests/fuzz/<name>.c.
set(FH_FUZZ_TARGETS fuzz_chunked fuzz_form fuzz_json fuzz_multipart fuzz_request fuzz_router fuzz_tls
    fuzz_websocket)
foreach(name ${FH_FUZZ_TARGETS})
  if(TARGET ${name})
    continue()
  endif()
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/fuzz/${name}.c)
  target_compile_options(${name} PRIVATE ${FH_FUZZ_FLAGS})
  target_link_options(${name} PRIVATE ${FH_FUZZ_FLAGS})
  # Objects of an OBJECT library reach only its direct users: name llhttp too.
  target_link_libraries(${name} PRIVATE fh_fuzz_objects fh_llhttp)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                        ${PROJECT_BINARY_DIR}/tests/fuzz)
endforeach()
