# Example apps end to end: each script starts its binary and checks answers.
file(GLOB FH_EXAMPLE_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.sh)
foreach(script ${FH_EXAMPLE_TESTS})
  get_filename_component(name ${script} NAME_WE)
  if(TARGET ${name} OR EXISTS ${PROJECT_SOURCE_DIR}/examples/${name})
    add_test(NAME example.${name} COMMAND ${script} ${PROJECT_BINARY_DIR})
    set_tests_properties(example.${name} PROPERTIES TIMEOUT 120 LABELS "example")
  endif()
endforeach()

# Every example binary's --help and bad flags, the same everywhere.
add_test(NAME example.command_line COMMAND ${CMAKE_CURRENT_LIST_DIR}/command_line.sh ${PROJECT_BINARY_DIR})
set_tests_properties(example.command_line PROPERTIES TIMEOUT 120 LABELS "example")
