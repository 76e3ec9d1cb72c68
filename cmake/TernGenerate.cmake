# TernGenerate: message code (protoc-c) and tern service code
# (protoc-gen-tern) for .proto files, in one protoc run, added to a target.
#
#   tern_generate(<target>
#                 PROTOS <file.proto>...
#                 [IMPORT_DIRS <dir | virtual/path=dir>...]
#                 [OUT_DIR <dir>])
#
# PROTOS are paths on disk (relative ones to CMAKE_CURRENT_SOURCE_DIR).
# IMPORT_DIRS become protoc's -I, in order (relative ones to
# CMAKE_CURRENT_SOURCE_DIR); without IMPORT_DIRS, each proto's own directory
# is used. An entry `virtual/path=dir` is handed to protoc as is: the files
# under `dir` are known to protoc, and in generated code, as
# `virtual/path/...`. Each proto's name is found the way protoc finds it:
# the first IMPORT_DIRS entry whose directory holds the file gives the name
# (`protos/x.proto` with `custom/path=protos` is `custom/path/x.proto`,
# generating OUT_DIR/custom/path/x.pb-c.{h,c} and x.tern.{h,c}, and the
# generated includes say "custom/path/x.pb-c.h"). A proto under no entry is
# a configure error.
#
# OUT_DIR defaults to ${CMAKE_CURRENT_BINARY_DIR}/gen. It is added to the
# target's include directories (PUBLIC); the generated .pb-c.c and .tern.c
# files to its sources. Link the target with tern (shared) or tern_static
# yourself; they bring tern's headers and protobuf-c.
#
# Only files declaring a `service` get .tern.{h,c}. CMake must know the
# output names before protoc runs, so tern_generate looks for `service` in
# each proto (comments ignored) when configuring, and re-runs the configure
# step when a proto changes.
#
# Imports that are not listed in PROTOS are not tracked as dependencies:
# list every proto whose code the target needs (protoc's --dependency_out
# works for one input file only).

if(NOT PROTOC)
  find_program(PROTOC protoc REQUIRED)
endif()
find_program(TERN_PROTOC_GEN_C protoc-gen-c
  DOC "protobuf-c's protoc plugin (Debian: protobuf-c-compiler)")

# True (in out_var) when the proto text declares a service.
function(_tern_proto_has_service path out_var)
  file(READ "${path}" text)
  # Block comments, then line comments.
  string(FIND "${text}" "/*" open)
  while(NOT open EQUAL -1)
    string(SUBSTRING "${text}" 0 ${open} head)
    math(EXPR after "${open} + 2")
    string(SUBSTRING "${text}" ${after} -1 rest)
    string(FIND "${rest}" "*/" close)
    if(close EQUAL -1)
      set(rest "")
    else()
      math(EXPR after "${close} + 2")
      string(SUBSTRING "${rest}" ${after} -1 rest)
    endif()
    set(text "${head} ${rest}")
    string(FIND "${text}" "/*" open)
  endwhile()
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  # `service Name` at the start of a top-level statement.
  if(text MATCHES "(^|[;}\n])[ \t\r\n]*service[ \t\r\n]+[A-Za-z_]")
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(tern_generate target)
  cmake_parse_arguments(PARSE_ARGV 1 TG "" "OUT_DIR" "PROTOS;IMPORT_DIRS")
  if(TG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "tern_generate(${target}): unexpected arguments: ${TG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "tern_generate: no target named '${target}'")
  endif()
  if(NOT TG_PROTOS)
    message(FATAL_ERROR "tern_generate(${target}): PROTOS is empty")
  endif()
  if(NOT TG_OUT_DIR)
    set(TG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/gen)
  endif()
  get_filename_component(out "${TG_OUT_DIR}" ABSOLUTE
    BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})

  if(TARGET protoc-gen-tern)
    set(plugin $<TARGET_FILE:protoc-gen-tern>)
    set(plugin_dep protoc-gen-tern)
  else()
    find_program(TERN_PROTOC_GEN_TERN protoc-gen-tern REQUIRED)
    set(plugin ${TERN_PROTOC_GEN_TERN})
    set(plugin_dep ${TERN_PROTOC_GEN_TERN})
  endif()

  # Absolute protos; without IMPORT_DIRS, their own directories.
  set(protos)
  foreach(p IN LISTS TG_PROTOS)
    get_filename_component(abs "${p}" ABSOLUTE
      BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    if(NOT EXISTS "${abs}")
      message(FATAL_ERROR "tern_generate(${target}): ${abs} does not exist")
    endif()
    list(APPEND protos "${abs}")
  endforeach()
  set(import_dirs ${TG_IMPORT_DIRS})
  if(NOT import_dirs)
    foreach(abs IN LISTS protos)
      get_filename_component(dir "${abs}" DIRECTORY)
      list(APPEND import_dirs "${dir}")
    endforeach()
    list(REMOVE_DUPLICATES import_dirs)
  endif()

  # -I arguments, and parallel lists of virtual prefixes and real dirs
  # (a virtual prefix of "." stands for none: CMake lists drop "").
  set(iargs)
  set(virtuals)
  set(reals)
  foreach(d IN LISTS import_dirs)
    if(d MATCHES "^([^=]+)=(.+)$")
      set(real "${CMAKE_MATCH_2}")
      string(REGEX REPLACE "/+$" "" virtual "${CMAKE_MATCH_1}")
    else()
      set(virtual ".")
      set(real "${d}")
    endif()
    get_filename_component(real "${real}" ABSOLUTE
      BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    if(virtual STREQUAL ".")
      list(APPEND iargs "-I${real}")
    else()
      list(APPEND iargs "-I${virtual}=${real}")
    endif()
    list(APPEND virtuals "${virtual}")
    list(APPEND reals "${real}")
  endforeach()
  list(LENGTH reals n_dirs)
  math(EXPR last_dir "${n_dirs} - 1")

  set(outputs)
  set(sources)
  set(names)
  foreach(abs IN LISTS protos)
    # The name protoc gives the file: first import dir holding it.
    set(name)
    foreach(i RANGE ${last_dir})
      list(GET reals ${i} real)
      string(LENGTH "${real}/" len)
      string(SUBSTRING "${abs}" 0 ${len} head)
      if(head STREQUAL "${real}/")
        string(SUBSTRING "${abs}" ${len} -1 rel)
        list(GET virtuals ${i} virtual)
        if(virtual STREQUAL ".")
          set(name "${rel}")
        else()
          set(name "${virtual}/${rel}")
        endif()
        break()
      endif()
    endforeach()
    if(NOT name)
      message(FATAL_ERROR "tern_generate(${target}): ${abs} is not under "
        "any IMPORT_DIRS entry (${import_dirs}); protoc could not name it")
    endif()
    list(APPEND names "${name}")
    string(REGEX REPLACE "\\.(proto|protodevel)$" "" stem "${name}")
    list(APPEND outputs "${out}/${stem}.pb-c.h" "${out}/${stem}.pb-c.c")
    list(APPEND sources "${out}/${stem}.pb-c.c")
    _tern_proto_has_service("${abs}" has_service)
    if(has_service)
      list(APPEND outputs "${out}/${stem}.tern.h" "${out}/${stem}.tern.c")
      list(APPEND sources "${out}/${stem}.tern.c")
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${abs}")
  endforeach()

  set(c_plugin)
  if(TERN_PROTOC_GEN_C)
    set(c_plugin "--plugin=protoc-gen-c=${TERN_PROTOC_GEN_C}")
  endif()
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out}"
    COMMAND ${PROTOC} ${iargs} ${c_plugin}
            "--plugin=protoc-gen-tern=${plugin}"
            "--c_out=${out}" "--tern_out=${out}" ${protos}
    DEPENDS ${protos} ${plugin_dep}
    COMMENT "tern_generate(${target}): ${names}"
    VERBATIM)
  target_sources(${target} PRIVATE ${outputs})
  target_include_directories(${target} PUBLIC "${out}")
  if(TARGET protoc-gen-tern)
    add_dependencies(${target} protoc-gen-tern)
  endif()
endfunction()
