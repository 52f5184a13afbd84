# Task code shipped to nodes (test_modules.c): a module no node loads by
# itself (ship_module.c), shipped by the client to fastpool-worker nodes
# over TCP on loopback and between network namespaces; the cache by hash
# (a second node answers HAVE), corrupted bytes refused, a file that does
# not dlopen, a task named before its module, a node added later, and a
# pool without nodes loading it in-process.
add_library(fp_ship_module MODULE ship_module.c)
target_link_libraries(fp_ship_module PRIVATE fastpool)
# one above the rendezvous threshold
add_library(fp_ship_big MODULE ship_big.c)
target_link_libraries(fp_ship_big PRIVATE fastpool)

# linked with the shared library: the in-process case registers the
# module's tasks into the same registry
add_executable(test_modules test_modules.c)
target_include_directories(test_modules PRIVATE ${PROJECT_SOURCE_DIR}/tests
                                                ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_modules PRIVATE _GNU_SOURCE)
target_link_libraries(test_modules PRIVATE fastpool PkgConfig::CMOCKA
                                           OpenSSL::Crypto Threads::Threads)
set(FP_LAUNCH_MOD_ENV "${FP_LAUNCH_ENV};FP_TEST_WORKER=$<TARGET_FILE:fastpool-worker>;FP_TEST_SHIP_MODULE=$<TARGET_FILE:fp_ship_module>;FP_TEST_SHIP_BIG=$<TARGET_FILE:fp_ship_big>")
add_test(NAME launch_modules_tcp COMMAND test_modules)
set_tests_properties(launch_modules_tcp PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS launch
  ENVIRONMENT "${FP_LAUNCH_MOD_ENV};FP_TRANSPORT=tcp")
add_test(NAME launch_modules_netns
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dist/in_netns.sh
                 $<TARGET_FILE:test_modules>)
set_tests_properties(launch_modules_netns PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS "launch;netns"
  ENVIRONMENT "${FP_LAUNCH_MOD_ENV};FP_TRANSPORT=tcp")

# the cache directory resolver the node uses (and the SSH bundles will)
fp_add_test(test_cache_dir test_cache_dir.c)
fp_test_internal(test_cache_dir common launch)
