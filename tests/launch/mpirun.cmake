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
elseif(FP_SANITIZE STREQUAL "address")
  list(APPEND fp_launch_env
       "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp:print_suppressions=0")
endif()
# A build without PMIx: every rank's fp_pool_create must say so.
get_property(fp_have_pmix GLOBAL PROPERTY FP_HAVE_PMIX)
set(fp_launch_cases map early kill client2 executors refused)
if(NOT fp_have_pmix)
  set(fp_launch_cases unsupported)
endif()
foreach(l mpirun srun)
  if(l STREQUAL "mpirun")
    set(tool "${FP_MPIRUN}")
  else()
    set(tool "${FP_SRUN}")
  endif()
  foreach(c ${fp_launch_cases})
    add_test(NAME launch_${l}_${c}
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/launch_pool.sh ${l}
                     "${tool}" $<TARGET_FILE:test_mpirun_pool> ${c})
    set_tests_properties(launch_${l}_${c} PROPERTIES
      SKIP_RETURN_CODE 77 TIMEOUT 200 LABELS launch
      ENVIRONMENT "${fp_launch_env}")
  endforeach()
endforeach()
if(NOT fp_have_pmix)
  set_tests_properties(launch_srun_unsupported PROPERTIES RUN_SERIAL TRUE)
  return()
endif()
if(FP_SANITIZE STREQUAL "address")
  # The early client exits with its pool open, which leaks it by design;
  # and LeakSanitizer's stop-the-world at exit crashes on UCX's threads,
  # alive then (docs/ARCHITECTURE.md, "The client transport lives until
  # exit").  No leak check for that process.
  foreach(l mpirun srun)
    set_tests_properties(launch_${l}_early PROPERTIES
      ENVIRONMENT "${fp_launch_env};ASAN_OPTIONS=detect_leaks=0")
  endforeach()
endif()
if(FP_SANITIZE STREQUAL "thread")
  foreach(l mpirun srun)
    set_tests_properties(launch_${l}_early PROPERTIES ENVIRONMENT
      "${fp_launch_env};TSAN_OPTIONS=halt_on_error=1:suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan.supp")
  endforeach()
endif()
set_tests_properties(launch_srun_map launch_srun_early launch_srun_kill
  launch_srun_client2 launch_srun_executors launch_srun_refused
  PROPERTIES RUN_SERIAL TRUE)

# The same program linked with libfastpool.so: the launcher registers from
# the shared library's constructor (the static one needs the anchor).
add_executable(test_mpirun_pool_shared ${CMAKE_CURRENT_LIST_DIR}/test_mpirun_pool.c)
target_compile_definitions(test_mpirun_pool_shared PRIVATE _GNU_SOURCE)
target_link_libraries(test_mpirun_pool_shared PRIVATE fastpool)
add_test(NAME launch_mpirun_map_shared
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/launch_pool.sh mpirun
                 "${FP_MPIRUN}" $<TARGET_FILE:test_mpirun_pool_shared> map)
set_tests_properties(launch_mpirun_map_shared PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 200 LABELS launch
  ENVIRONMENT "${fp_launch_env}")
