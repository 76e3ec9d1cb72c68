# plugin_golden: runs protoc with protoc-gen-tern on each proto and compares
# NAME.tern.h / NAME.tern.c with the checked-in files in GOLDEN_DIR.
# With -DUPDATE=ON it rewrites the golden files instead; do that (through
# `cmake --build <build> --target plugin_update_golden`) only after a
# deliberate change to the generated code, and review the git diff.
#
# -DCONFIG=<file> names a script (written by tests/plugin/CMakeLists.txt)
# that sets PROTOC, PLUGIN, WORK_DIR, GOLDEN_DIR and CASES (a list of
# "import_dir|file.proto" entries). -DUPDATE=ON to rewrite the goldens.
cmake_minimum_required(VERSION 3.18)
include("${CONFIG}")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
find_program(DIFF diff)
set(failed 0)

foreach(case IN LISTS CASES)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 import_dir)
  list(GET parts 1 proto)
  execute_process(
    COMMAND "${PROTOC}" "-I${import_dir}" "--plugin=protoc-gen-tern=${PLUGIN}"
            "--tern_out=${WORK_DIR}" "${import_dir}/${proto}"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "protoc failed on ${proto} (${rc}):\n${err}")
  endif()
  string(REGEX REPLACE "\\.proto$" "" stem "${proto}")
  foreach(ext tern.h tern.c)
    set(got "${WORK_DIR}/${stem}.${ext}")
    get_filename_component(name "${got}" NAME)
    set(want "${GOLDEN_DIR}/${name}")
    if(UPDATE)
      configure_file("${got}" "${want}" COPYONLY)
      message(STATUS "updated ${want}")
      continue()
    endif()
    if(NOT EXISTS "${want}")
      message(SEND_ERROR "missing golden file ${want}")
      set(failed 1)
      continue()
    endif()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files
                            "${want}" "${got}" RESULT_VARIABLE same)
    if(same EQUAL 0)
      message(STATUS "ok: ${name} matches the golden file")
    else()
      set(failed 1)
      if(DIFF)
        execute_process(COMMAND "${DIFF}" -u "${want}" "${got}"
                        OUTPUT_VARIABLE d)
      else()
        set(d "(install diff to see the difference)")
      endif()
      message(SEND_ERROR "${name} differs from ${want}:\n${d}")
    endif()
  endforeach()
endforeach()

if(failed)
  message(FATAL_ERROR "generated code differs from the golden files. If "
    "the change is intended: cmake --build <build> --target "
    "plugin_update_golden, then review the diff of tests/plugin/golden/")
endif()
