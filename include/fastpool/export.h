#ifndef FASTPOOL_EXPORT_H
#define FASTPOOL_EXPORT_H

/* The library is built with -fvisibility=hidden; only FP_API symbols are
 * exported from the shared library. */
#if defined(__GNUC__)
#define FP_API __attribute__((visibility("default")))
#else
#define FP_API
#endif

#if defined(__GNUC__)
#define FP_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define FP_PRINTF(fmt_idx, arg_idx)
#endif

#endif
