# Pools formed by a launcher's ranks through PMIx (boot/pmix.c), label
# `launch`: test_mpirun_pool runs as 3 ranks (rank 0 the client, ranks 1-2
# nodes) of Open MPI's mpirun, and of Slurm's srun --mpi=pmix with daemons
# the script starts for itself (RUN_SERIAL: one Slurm at a time).  Skipped
# (77, saying why) where the launcher is absent or cannot run.
find_program(FP_MPIRUN mpirun)
find_program(FP_SRUN srun)
add_executable(test_mpirun_pool ${CMAKE_CURRENT_LIST_DIR}/test_mpirun_pool.c)
target_compile_definitions(test_mpirun_pool PRIVATE _GNU_SOURCE)
target_link_libraries(test_mpirun_pool PRIVATE fastpool_static)
set(fp_launch_env "${FP_TEST_ENV}")
if(FP_SANITIZE STREQUAL "thread")
  list(APPEND fp_launch_env "UCX_MEM_EVENTS=no")
endif()
foreach(l mpirun srun)
  if(l STREQUAL "mpirun")
    set(tool "${FP_MPIRUN}")
  else()
    set(tool "${FP_SRUN}")
  endif()
  foreach(c map early kill)
    add_test(NAME launch_${l}_${c}
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/launch_pool.sh ${l}
                     "${tool}" $<TARGET_FILE:test_mpirun_pool> ${c})
    set_tests_properties(launch_${l}_${c} PROPERTIES
      SKIP_RETURN_CODE 77 TIMEOUT 200 LABELS launch
      ENVIRONMENT "${fp_launch_env}")
  endforeach()
endforeach()
set_tests_properties(launch_srun_map launch_srun_early launch_srun_kill
  PROPERTIES RUN_SERIAL TRUE)
