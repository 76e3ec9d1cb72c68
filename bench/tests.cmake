# Included from bench/CMakeLists.txt: the grpc C++ peer used by
# run_bench.sh, and a short functional check of bench_client (never a
# measurement: numbers come from bench/run_bench.sh on a quiet machine).

# grpc C++ async client (bench/peers): built with plain flags, like the
# interop peers; not in a tree that reuses peers from elsewhere
# (TERN_CPP_PEERS_DIR, the sanitizer trees).
if(TERN_BUILD_CPP_PEERS AND NOT TERN_CPP_PEERS_DIR)
  add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/peers
                   ${CMAKE_CURRENT_BINARY_DIR}/peers)
endif()

if(TERN_BUILD_TESTS AND TARGET bench_client)
  # bench/ is added before the top level calls enable_testing(); without
  # this, no CTest file is written for this folder and the tests vanish.
  enable_testing()
  set(_bench_run_pair ${CMAKE_SOURCE_DIR}/tests/interop/run_pair.py)
  set(_bench_load "--connections 2 --concurrency 4 --duration 2 --warmup 0.5")
  # One server, both methods: bench_client exits non-zero unless it counted
  # OK calls with the right payload size and no error at all.
  add_test(NAME bench_client_smoke
    COMMAND /usr/bin/python3 ${_bench_run_pair} --timeout 60
      --server "$<TARGET_FILE:bench_server> --port {port}"
      --client "/bin/sh -c '$<TARGET_FILE:bench_client> --target 127.0.0.1:{port} --method unary ${_bench_load} --request-size 10 --response-size 100 && $<TARGET_FILE:bench_client> --target 127.0.0.1:{port} --method streaming ${_bench_load} --request-size 10 --response-size 100'")
  set_tests_properties(bench_client_smoke PROPERTIES TIMEOUT 90)

  if(TARGET cpp_async_client)
    add_test(NAME bench_cpp_async_client_smoke
      COMMAND /usr/bin/python3 ${_bench_run_pair} --timeout 60
        --server "$<TARGET_FILE:bench_server> --port {port}"
        --client "$<TARGET_FILE:cpp_async_client> --target 127.0.0.1:{port} ${_bench_load} --response-size 100")
    set_tests_properties(bench_cpp_async_client_smoke PROPERTIES TIMEOUT 90)
  endif()
endif()
