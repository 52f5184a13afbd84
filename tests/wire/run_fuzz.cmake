# Run by the fuzz_wire_bounded test:
#   cmake -DFUZZER=<fuzz_wire> -DSEEDS=<checked-in corpus> -DWORK=<build dir>
#         -DSECONDS=<n> -P run_fuzz.cmake
# Copies the seeds into WORK/corpus (libFuzzer adds what it finds there, so
# the checked-in corpus is never modified), fuzzes for SECONDS, and fails with
# the path of the crashing input if libFuzzer finds one.
foreach(v FUZZER SEEDS WORK SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: -D${v}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK}/corpus")
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
file(GLOB seeds "${SEEDS}/*")
if(NOT seeds)
  message(FATAL_ERROR "run_fuzz.cmake: no seeds in ${SEEDS}")
endif()
file(COPY ${seeds} DESTINATION "${WORK}/corpus")

execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -max_len=4096 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1
          "-artifact_prefix=${WORK}/artifacts/" "${WORK}/corpus"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB crashes "${WORK}/artifacts/*")
  message(FATAL_ERROR "fuzz_wire failed (exit ${rc}); inputs: ${crashes}")
endif()
