# Operations against the real components: instances of an example behind
# HAProxy (Debian's haproxy), started and configured by each script, and
# one instance restarted without a balancer.
set(FH_OPS_TESTS haproxy_kill haproxy_restart restart_keepalive)
foreach(name ${FH_OPS_TESTS})
  add_test(NAME ops.${name} COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/${name}.py ${PROJECT_BINARY_DIR})
  set_tests_properties(ops.${name} PROPERTIES TIMEOUT 180 LABELS "ops")
endforeach()
