# The HTTP/1.1 conformance suite: cases as data (cases/*.case), run by a
# raw-socket runner against a real server.
add_executable(conformance_runner ${CMAKE_CURRENT_LIST_DIR}/runner.c)
target_link_libraries(conformance_runner PRIVATE fh_testlib) # tls_relay.h
add_test(NAME conformance.http1
         COMMAND conformance_runner ${CMAKE_CURRENT_LIST_DIR}/cases)
set_tests_properties(conformance.http1 PROPERTIES TIMEOUT 300 LABELS "conformance")
# The same cases with every head parsed by llhttp (no head takes the strict
# parser's way alone): both ways must answer alike.
add_test(NAME conformance.http1_llhttp_only
         COMMAND conformance_runner ${CMAKE_CURRENT_LIST_DIR}/cases)
set_tests_properties(conformance.http1_llhttp_only PROPERTIES TIMEOUT 300 LABELS "conformance"
                     ENVIRONMENT "FH_H1_LLHTTP_ONLY=1")
# The same cases over TLS: each connection through a relay that speaks TLS
# to the server (runner -t).
add_test(NAME conformance.http1_tls
         COMMAND conformance_runner -t ${CMAKE_CURRENT_LIST_DIR}/cases)
set_tests_properties(conformance.http1_tls PROPERTIES TIMEOUT 600 LABELS "conformance")
