# Out-of-tree build against the installed library (find_package + pkg-config).
add_test(NAME install.out_of_tree
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(install.out_of_tree PROPERTIES TIMEOUT 300 LABELS "install;nosan")
