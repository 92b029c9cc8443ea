# bench/lib/report.py: the summary and the report bench/run writes, on
# made-up results (no server is started).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME bench.report COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_report.py)
  set_tests_properties(bench.report PROPERTIES TIMEOUT 60 LABELS "bench;nosan")
endif()

# bench/peers/floor, the reference row of bench/run, built here too so that
# its answers are checked in every build (the sanitizer builds included).
if(Python3_Interpreter_FOUND)
  add_executable(bench_floor ${PROJECT_SOURCE_DIR}/bench/peers/floor/main.c)
  target_compile_definitions(bench_floor PRIVATE _GNU_SOURCE)
  target_link_libraries(bench_floor PRIVATE PkgConfig::JANSSON Threads::Threads)
  add_test(NAME bench.floor COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_floor.py
           $<TARGET_FILE:bench_floor>)
  set_tests_properties(bench.floor PROPERTIES TIMEOUT 120 LABELS "bench")
endif()
