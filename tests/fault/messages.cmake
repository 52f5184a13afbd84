# Messages to and from executors (fp_pool_send, fp_task_send,
# fp_pool_collect, on_message): a local pool, then pools over nodes this
# program starts (itself, with FP_NODE_LISTEN) over shared memory, TCP, and
# TCP between network namespaces.
fp_fault_program(test_messages test_messages.c)
add_test(NAME fault_messages_local COMMAND test_messages)
set_tests_properties(fault_messages_local PROPERTIES
  TIMEOUT 120 LABELS fault ENVIRONMENT "${FP_FAULT_ENV};FP_TEST_MSG_ONLY=local")
foreach(tr shm tcp)
  add_test(NAME fault_messages_${tr} COMMAND test_messages)
  set_tests_properties(fault_messages_${tr} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS fault
    ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=${tr};FP_TEST_MSG_ONLY=nodes")
endforeach()
add_test(NAME fault_messages_netns
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dist/in_netns.sh $<TARGET_FILE:test_messages>)
set_tests_properties(fault_messages_netns PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS "fault;netns"
  ENVIRONMENT "${FP_FAULT_ENV};FP_TRANSPORT=tcp;FP_TEST_MSG_ONLY=nodes")
