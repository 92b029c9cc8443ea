# The API reference: Doxygen over include/, no undocumented declaration.
add_test(NAME docs.reference COMMAND ${CMAKE_CURRENT_LIST_DIR}/reference.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.reference PROPERTIES TIMEOUT 120 LABELS "docs;nosan")
