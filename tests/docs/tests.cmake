# The API reference: Doxygen over include/, no undocumented declaration.
add_test(NAME docs.reference COMMAND ${CMAKE_CURRENT_LIST_DIR}/reference.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.reference PROPERTIES TIMEOUT 120 LABELS "docs;nosan")

# The C snippets of README.md and docs/getting-started.md build with
# -Wall -Wextra -Werror against an installed copy and answer as written.
add_test(NAME docs.snippets COMMAND ${CMAKE_CURRENT_LIST_DIR}/snippets.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(docs.snippets PROPERTIES TIMEOUT 120 LABELS "docs;nosan")

# The nginx, HAProxy, systemd and Kubernetes configurations of
# docs/deployment.md, checked by nginx -t, haproxy -c, systemd-analyze
# verify and a YAML parser.
add_test(NAME docs.deployment COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/deployment.py ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.deployment PROPERTIES TIMEOUT 120 LABELS "docs;nosan")
