# Helpers that keep each module a separate static library, so a module and its tests build
# without the rest of the tree, and dependencies between modules are written down.
#
#   mcp_module(NAME SOURCES a.c b.c DEPS other_module PkgConfig::LIBUV)
#       -> static library mcp_NAME, include directory = the calling directory
#   mcp_unit_test(NAME SOURCES tests/test_x.c DEPS mcp_x [LABELS l1 l2] [TIMEOUT s])
#       -> executable NAME linked with cmocka, registered with ctest (label "unit" by default)
#   mcp_fuzz_target(NAME SOURCES fuzz/x.c DEPS mcp_x CORPUS dir)
#       -> libFuzzer executable when MCP_FUZZ is on, and a short ctest run over the corpus

function(mcp_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mcp_${name} STATIC ${M_SOURCES})
  target_include_directories(mcp_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(mcp_${name} PUBLIC ${M_DEPS})
endfunction()

function(mcp_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT MCP_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} PkgConfig::CMOCKA)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  # Exit code 77 means "skipped" (e.g. npm unreachable), as in automake.
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "MCP_BIN_DIR=${CMAKE_BINARY_DIR}/bin;MCP_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

function(mcp_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;DEPS" ${ARGN})
  if(NOT MCP_FUZZ)
    return()
  endif()
  add_executable(${name} ${F_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${F_DEPS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  # A short, bounded run over the seed corpus (copied so the run never writes into the tree).
  add_test(NAME ${name}
    COMMAND ${CMAKE_SOURCE_DIR}/ci/run-fuzz $<TARGET_FILE:${name}> ${F_CORPUS})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()

# Run an already registered test executable under valgrind memcheck (label "valgrind").
# Leaks, invalid accesses and uninitialised reads fail the test.
find_program(VALGRIND valgrind)
function(mcp_valgrind_test name target)
  if(NOT MCP_BUILD_TESTS OR NOT VALGRIND OR MCP_SANITIZE OR MCP_FUZZ)
    return()
  endif()
  add_test(NAME ${name}
    COMMAND ${VALGRIND} --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
            --errors-for-leak-kinds=definite,indirect --track-origins=yes --quiet
            $<TARGET_FILE:${target}>)
  set_tests_properties(${name} PROPERTIES LABELS valgrind TIMEOUT 600
    ENVIRONMENT "MCP_BIN_DIR=${CMAKE_BINARY_DIR}/bin;MCP_SOURCE_DIR=${CMAKE_SOURCE_DIR};MCP_UNDER_VALGRIND=1")
endfunction()
