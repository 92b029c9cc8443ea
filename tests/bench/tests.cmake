# bench/lib/report.py: the summary and the report bench/run writes, on
# made-up results (no server is started).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME bench.report COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_report.py)
  set_tests_properties(bench.report PROPERTIES TIMEOUT 60 LABELS "bench;nosan")
endif()
