#include "fastpool/fastpool.h"

const char *fp_status_string(fp_status_t status)
{
    switch (status) {
#define FP__STATUS_STRING(name, value, desc)                                   \
    case name:                                                                 \
        return desc;
        FP_STATUS_TABLE(FP__STATUS_STRING)
#undef FP__STATUS_STRING
    }
    return "unknown status";
}

const char *fp_status_name(fp_status_t status)
{
    switch (status) {
#define FP__STATUS_NAME(name, value, desc)                                     \
    case name:                                                                 \
        return #name;
        FP_STATUS_TABLE(FP__STATUS_NAME)
#undef FP__STATUS_NAME
    }
    return "FP_UNKNOWN";
}

#define FP__STR2(x) #x
#define FP__STR(x) FP__STR2(x)

const char *fp_version_string(void)
{
    return FP__STR(FP_VERSION_MAJOR) "." FP__STR(FP_VERSION_MINOR) "." FP__STR(
        FP_VERSION_PATCH);
}
