/*
 * Helpers for the test programs that cannot use cmocka (it installs signal
 * handlers of its own, which is what they check): a CHECK that counts
 * failures, and whether a library is mapped into the process.
 */
#ifndef FP_PLAIN_H
#define FP_PLAIN_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fp_plain_failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            fp_plain_failures++;                                               \
        }                                                                      \
    } while (0)

/* Whether a library whose path contains `name` is mapped into us. */
static inline bool fp_plain_mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

#endif
