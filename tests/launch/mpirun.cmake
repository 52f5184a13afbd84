# Pools formed by a launcher's ranks through PMIx (boot/pmix.c), label
# `launch`: test_mpirun_pool runs as 3 ranks of Open MPI's mpirun (rank 0
# the client, ranks 1-2 nodes).  Skipped (77) without mpirun.
find_program(FP_MPIRUN mpirun)
find_program(FP_SRUN srun)
add_executable(test_mpirun_pool ${CMAKE_CURRENT_LIST_DIR}/test_mpirun_pool.c)
target_compile_definitions(test_mpirun_pool PRIVATE _GNU_SOURCE)
target_link_libraries(test_mpirun_pool PRIVATE fastpool_static)
set(fp_launch_env "${FP_TEST_ENV}")
if(FP_SANITIZE STREQUAL "thread")
  list(APPEND fp_launch_env "UCX_MEM_EVENTS=no")
endif()
foreach(c map early kill)
  add_test(NAME launch_mpirun_${c}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/mpirun_pool.sh
                   "${FP_MPIRUN}" $<TARGET_FILE:test_mpirun_pool> ${c})
  set_tests_properties(launch_mpirun_${c} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 200 LABELS launch
    ENVIRONMENT "${fp_launch_env}")
endforeach()
