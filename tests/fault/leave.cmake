# Leave and join, sharing nodes (issue 10, points 3 and 6): test_leave is
# its own node and client processes (tests/fault/test_leave.c), over TCP,
# one ctest entry per case: on this host's loopback, and with the nodes in
# network namespaces (tests/dist/in_netns.sh; skipped, 77, where they
# cannot be made).  Timing matters (a node must go idle within seconds), so
# they run one at a time.
fp_fault_program(test_leave test_leave.c)
set(FP_LEAVE_ENV "${FP_FAULT_ENV};FP_TRANSPORT=tcp;FP_TEST_WORKER=$<TARGET_FILE:fastpool-worker>")
foreach(case sigterm sigterm_bulk sharing client_killed force exit_with_client)
  add_test(NAME fault_leave_${case} COMMAND test_leave ${case})
  set_tests_properties(fault_leave_${case} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE LABELS fault
    ENVIRONMENT "${FP_LEAVE_ENV}")
  add_test(NAME fault_leave_${case}_netns
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dist/in_netns.sh
                   $<TARGET_FILE:test_leave> ${case})
  set_tests_properties(fault_leave_${case}_netns PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE LABELS "fault;netns"
    ENVIRONMENT "${FP_LEAVE_ENV}")
endforeach()
