# Leave and join, sharing nodes (issue 10, points 3 and 6): test_leave is
# its own node and client processes (tests/fault/test_leave.c), over TCP on
# loopback; one ctest entry per case.  Timing matters (a node must go idle
# within seconds), so they run one at a time.
fp_fault_program(test_leave test_leave.c)
foreach(case sigterm sharing client_killed force exit_with_client)
  add_test(NAME fault_leave_${case} COMMAND test_leave ${case})
  set_tests_properties(fault_leave_${case} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE LABELS fault
    ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=tcp;FP_TEST_WORKER=$<TARGET_FILE:fastpool-worker>")
endforeach()
