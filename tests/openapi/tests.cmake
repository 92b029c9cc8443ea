# The controllers example's OpenAPI document linted with @redocly/cli, and
# its documentation page loaded in Debian's headless chromium. Both tools
# come from scripts/install-deps.sh (npm packages under FH_NPM_DIR).
if(TARGET controllers)
  foreach(t lint docs_page)
    add_test(NAME openapi.${t}
             COMMAND ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${PROJECT_BINARY_DIR} ${FH_NPM_DIR})
    set_tests_properties(openapi.${t} PROPERTIES TIMEOUT 180 LABELS "example")
  endforeach()
endif()
