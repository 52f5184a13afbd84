/*
 * fastpool status codes.
 *
 * One X-macro table generates the enum and fp_status_string(), so the two
 * cannot drift.  Convention (as in UCX): 0 is success, positive values are
 * non-error outcomes, negative values are errors.
 */
#ifndef FASTPOOL_STATUS_H
#define FASTPOOL_STATUS_H

#include "fastpool/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) */
#define FP_STATUS_TABLE(X)                                                     \
    X(FP_OK, 0, "success")                                                     \
    X(FP_INPROGRESS, 1, "operation in progress")                               \
    X(FP_END, 2, "no more results")                                            \
    X(FP_ERR_INVALID, -1, "invalid argument")                                  \
    X(FP_ERR_NOMEM, -2, "out of memory")                                       \
    X(FP_ERR_NOT_FOUND, -3, "not found")                                       \
    X(FP_ERR_TIMEOUT, -4, "timed out")                                         \
    X(FP_ERR_CANCELED, -5, "canceled")                                         \
    X(FP_ERR_TASK, -6, "task failed")                                          \
    X(FP_ERR_UNSUPPORTED, -7, "not supported")                                 \
    X(FP_ERR_BUSY, -8, "busy")                                                 \
    X(FP_ERR_STATE, -9, "operation not valid in the current state")            \
    X(FP_ERR_EXISTS, -10, "already exists")                                    \
    X(FP_ERR_OVERFLOW, -11, "result larger than its slot")                     \
    X(FP_ERR_SYSTEM, -12, "system call failed")                                \
    X(FP_ERR_IO, -13, "input/output error")                                    \
    X(FP_ERR_CLOSED, -14, "closed")                                            \
    X(FP_ERR_AUTH, -15, "authentication failed")                               \
    X(FP_ERR_PROTOCOL, -16, "protocol error")                                  \
    X(FP_ERR_PEER, -17, "peer failed")                                         \
    X(FP_ERR_CONFIG, -18, "configuration error")

typedef enum fp_status {
#define FP__STATUS_ENUM(name, value, desc) name = (value),
    FP_STATUS_TABLE(FP__STATUS_ENUM)
#undef FP__STATUS_ENUM
} fp_status_t;

/* A static string describing `status`; "unknown status" for values outside
 * the table.  Never NULL, never to be freed. */
FP_API const char *fp_status_string(fp_status_t status);

/* The enumerator's name ("FP_ERR_TIMEOUT"), or "FP_UNKNOWN". */
FP_API const char *fp_status_name(fp_status_t status);

#ifdef __cplusplus
}
#endif

#endif
