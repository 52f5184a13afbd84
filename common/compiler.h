/* Compiler helpers shared by every layer. */
#ifndef FP_COMMON_COMPILER_H
#define FP_COMMON_COMPILER_H

#define FP__LIKELY(x) __builtin_expect(!!(x), 1)
#define FP__UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
