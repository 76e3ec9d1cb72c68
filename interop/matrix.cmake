# The official interop matrix: grpc's interop test cases
# (doc/interop-test-descriptions.md, grpc.testing.TestService) between tern
# and real peers on 127.0.0.1, every pair run by tests/interop/run_pair.py
# under Debian's /usr/bin/python3. Included by interop/CMakeLists.txt.
# docs/interop.md explains the matrix, its skips and how to run a cell.
#
#   interop_official_tern_client_vs_grpcio_server
#   interop_official_tern_client_vs_cpp_server       (grpc C++ peers present)
#   interop_official_grpcio_client_vs_tern_server
#   interop_official_cpp_client_vs_tern_server       (grpc C++ peers present)
#   interop_official_grpcio_client_vs_grpcio_server  peer self-check
#   interop_official_cpp_client_vs_cpp_server        peer self-check
#
# tern against tern is interop/CMakeLists.txt's
# interop_tern_client_vs_tern_server_official.

if(DEFINED TERN_BUILD_TESTS AND NOT TERN_BUILD_TESTS)
  return()
endif()
# interop/ is added before the top level's enable_testing(): without this
# its tests would not reach ctest.
enable_testing()

set(_im_python /usr/bin/python3)
set(_im_run_pair "${PROJECT_SOURCE_DIR}/tests/interop/run_pair.py")
set(_im_py_dir "${CMAKE_CURRENT_LIST_DIR}/peers/python")
# Where peers/python/CMakeLists.txt generates the grpcio stubs.
set(_im_py_gen "${CMAKE_CURRENT_BINARY_DIR}/peers/python/gen")

# Why cases are skipped in a cell (printed by the client on each SKIP line;
# docs/interop.md has them all).
set(_im_no_expect_compressed
  "the grpcio server cannot check expect_compressed: grpcio hides the compressed flag and the grpc-encoding of requests from handlers, so it never answers INVALID_ARGUMENT")

# --- the peers' command lines ------------------------------------------
set(_im_have_py FALSE)
if(EXISTS "${_im_py_dir}/CMakeLists.txt")
  set(_im_have_py TRUE)
  set(_im_grpcio_server
    "${_im_python} ${_im_py_dir}/interop_server.py --port=0 --gen_dir=${_im_py_gen}")
  set(_im_grpcio_client
    "${_im_python} ${_im_py_dir}/interop_client.py --server_host=127.0.0.1 --server_port={port} --test_case=all --gen_dir=${_im_py_gen}")
endif()

set(_im_have_cpp FALSE)
if(TARGET interop_cpp_server AND TARGET interop_cpp_client)
  set(_im_have_cpp TRUE)
  set(_im_cpp_server "$<TARGET_FILE:interop_cpp_server>")
  set(_im_cpp_client "$<TARGET_FILE:interop_cpp_client>")
elseif(TERN_INTEROP_CPP_BIN_DIR)
  # The ASan tree reuses the normal tree's grpc C++ peers.
  set(_im_have_cpp TRUE)
  set(_im_cpp_server "${TERN_INTEROP_CPP_BIN_DIR}/interop_cpp_server")
  set(_im_cpp_client "${TERN_INTEROP_CPP_BIN_DIR}/interop_cpp_client")
endif()
if(_im_have_cpp)
  set(_im_cpp_server "${_im_cpp_server} --port=0")
  set(_im_cpp_client
    "${_im_cpp_client} --server_host=127.0.0.1 --server_port={port} --test_case=all")
endif()

set(_im_have_tern_server FALSE)
set(_im_have_tern_client FALSE)
if(TARGET interop_server)
  set(_im_have_tern_server TRUE)
  set(_im_tern_server "$<TARGET_FILE:interop_server> --port=0")
endif()
if(TARGET interop_client)
  set(_im_have_tern_client TRUE)
  set(_im_tern_client
    "$<TARGET_FILE:interop_client> --server_host=127.0.0.1 --server_port={port} --test_case=all")
endif()

# One cell: <client> client against <server> server. SKIP is a list of
# cases (empty for none) passed as --skip=a,b, and REASON as --skip_reason
# (tern's and the grpcio client print it on each SKIP line; no cell skips
# with the grpc C++ client, which has no --skip_reason). REASON must not
# hold a single quote: run_pair.py splits the command line as a shell would.
function(_tern_interop_cell client server client_cmd server_cmd skip reason)
  set(name "interop_official_${client}_client_vs_${server}_server")
  set(cmd "${client_cmd}")
  if(skip)
    if(client STREQUAL "cpp")
      message(FATAL_ERROR "${name}: the grpc C++ client prints no skip reason")
    endif()
    list(JOIN skip "," skip_csv)
    string(APPEND cmd " --skip=${skip_csv} '--skip_reason=${reason}'")
  endif()
  add_test(NAME ${name}
    COMMAND ${_im_python} ${_im_run_pair} --gdb-on-hang
      --timeout 200 --startup-timeout 30 --check-server-exit
      --server "${server_cmd}"
      --client "${cmd}")
  set_tests_properties(${name} PROPERTIES
    TIMEOUT 240
    LABELS "interop;interop_official")
endfunction()

set(_im_client_compressed client_compressed_unary client_compressed_streaming)

# tern's client against each peer's server.
if(_im_have_tern_client AND _im_have_py)
  _tern_interop_cell(tern grpcio "${_im_tern_client}" "${_im_grpcio_server}"
    "${_im_client_compressed}" "${_im_no_expect_compressed}")
endif()
if(_im_have_tern_client AND _im_have_cpp)
  _tern_interop_cell(tern cpp "${_im_tern_client}" "${_im_cpp_server}" "" "")
endif()

# Each peer's client against tern's server. The grpcio client skips by
# itself, with reasons, what grpcio cannot check (docs/interop.md).
if(_im_have_tern_server AND _im_have_py)
  _tern_interop_cell(grpcio tern "${_im_grpcio_client}" "${_im_tern_server}" "" "")
endif()
if(_im_have_tern_server AND _im_have_cpp)
  _tern_interop_cell(cpp tern "${_im_cpp_client}" "${_im_tern_server}" "" "")
endif()

# Peer self-checks: when a cell above fails, these tell a peer bug from a
# tern bug.
if(_im_have_py)
  _tern_interop_cell(grpcio grpcio "${_im_grpcio_client}" "${_im_grpcio_server}"
    "${_im_client_compressed}" "${_im_no_expect_compressed}")
endif()
if(_im_have_cpp)
  _tern_interop_cell(cpp cpp "${_im_cpp_client}" "${_im_cpp_server}" "" "")
endif()
