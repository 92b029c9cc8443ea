# A value kept past its request (tests/sanitize/keep_past_request.c) is
# caught at its first use: by AddressSanitizer in an ASan build, as 0xdd
# bytes in a Debug build without it. Release builds poison nothing, so the
# test exists only in checked builds.
if(FH_SANITIZE MATCHES "address" OR CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_executable(keep_past_request ${CMAKE_CURRENT_LIST_DIR}/keep_past_request.c)
  target_link_libraries(keep_past_request PRIVATE fasthttp::static)
  if(FH_SANITIZE MATCHES "address")
    set(mode asan)
  else()
    set(mode debug)
  endif()
  add_test(NAME sanitize.kept_value
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/kept_value.sh $<TARGET_FILE:keep_past_request> ${mode})
  set_tests_properties(sanitize.kept_value PROPERTIES TIMEOUT 120 LABELS "sanitize")
endif()
