# The soak test (issue 10 point 8): map, starmap, imap and imap_unordered
# over three nodes in network namespaces while a driver kills, stops,
# resumes and restarts them at random; every index must come back exactly
# once with the right value.  soak.sh makes the namespace hosts (77, skip,
# where it cannot) and runs fp_soak in the client's; fp_soak starts its
# nodes itself (the same program with --node).  60 s by default, 20 s under
# a sanitizer (FP_SOAK_SECONDS, FP_SOAK_KILLS, FP_SOAK_SEED: see soak.c).
fp_fault_program(fp_soak soak.c)
target_link_libraries(fp_soak PRIVATE m)
add_test(NAME fault_soak
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/soak.sh $<TARGET_FILE:fp_soak>)
set_tests_properties(fault_soak PROPERTIES
  SKIP_RETURN_CODE 77
  TIMEOUT 300
  RUN_SERIAL TRUE
  LABELS "fault;netns"
  ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=tcp")
