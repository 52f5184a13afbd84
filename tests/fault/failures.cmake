# Node failures: kill -9 mid-call, SIGSTOP past the deadline, poison tasks,
# joining mid-map, node_wait, stragglers (test_failures.c), over TCP on
# loopback and between network namespaces.
fp_fault_program(test_failures test_failures.c)
add_test(NAME fault_failures_tcp COMMAND test_failures)
set_tests_properties(fault_failures_tcp PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS fault
  ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=tcp")
add_test(NAME fault_failures_netns
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dist/in_netns.sh
                 $<TARGET_FILE:test_failures>)
set_tests_properties(fault_failures_netns PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS "fault;netns"
  ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=tcp")
