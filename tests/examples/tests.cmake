# Example apps end to end: each script starts its binary and checks answers.
# One script per example, tests/examples/<example>.sh (lib.bash: their shared
# helpers); an example's test is listed here with it.
set(FH_EXAMPLE_TESTS bench_server controllers echo hello json pg_api rest_api sse static upload websocket)
foreach(name ${FH_EXAMPLE_TESTS})
  set(script ${CMAKE_CURRENT_LIST_DIR}/${name}.sh)
  if(TARGET ${name} OR EXISTS ${PROJECT_SOURCE_DIR}/examples/${name})
    add_test(NAME example.${name} COMMAND ${script} ${PROJECT_BINARY_DIR})
    set_tests_properties(example.${name} PROPERTIES TIMEOUT 120 LABELS "example")
  endif()
endforeach()

# Every example binary's --help and bad flags, the same everywhere.
add_test(NAME example.command_line COMMAND ${CMAKE_CURRENT_LIST_DIR}/command_line.sh ${PROJECT_BINARY_DIR})
set_tests_properties(example.command_line PROPERTIES TIMEOUT 120 LABELS "example")

# `make run` in a terminal: Ctrl-C stops the example gracefully and make
# exits 0 (tests/examples/make_run.sh).
add_test(NAME example.make_run COMMAND ${CMAKE_CURRENT_LIST_DIR}/make_run.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(example.make_run PROPERTIES TIMEOUT 120 LABELS "example")

# examples/websocket over wss:// with python3-websockets and node's ws
# (tests/examples/websocket_tls.sh).
if(TARGET websocket)
  add_test(NAME example.websocket_tls COMMAND ${CMAKE_CURRENT_LIST_DIR}/websocket_tls.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(example.websocket_tls PROPERTIES TIMEOUT 300 LABELS "example;tls")
endif()

# Every example over HTTPS with TLS_CERT and TLS_KEY (tests/examples/tls.sh).
add_test(NAME example.tls COMMAND ${CMAKE_CURRENT_LIST_DIR}/tls.sh ${PROJECT_BINARY_DIR})
set_tests_properties(example.tls PROPERTIES TIMEOUT 120 LABELS "example")
