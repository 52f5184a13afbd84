/*
 * A progress display for the command-line tools (internal; compiled into
 * each program that uses it, not into libfastpool).
 *
 * On a terminal: one line redrawn in place with '\r' (label, bar, percent,
 * done/total, rate, ETA), at most 10 times a second, ended with a newline.
 * Otherwise (a log, a pipe): a plain line at each new 10% and at least
 * every 5 s while the count moves, then a final line.  Feed it from
 * fp_call_params_t.on_progress with fp__pbar_progress (progress_arg: the
 * bar), then call fp__pbar_end when the call returns: a call that
 * completed has already drawn its final line (done == total), a failed or
 * canceled one gets it there.
 *
 *   fp__pbar_t bar;
 *   fp__pbar_init(&bar, stderr, "map", FP__PBAR_AUTO);
 *   fp_call_params_t cp = {.on_progress = fp__pbar_progress,
 *                          .progress_arg = &bar};
 *   st = fp_map(pool, "f", in, 8, n, out, 8, &cp, &err);
 *   fp__pbar_end(&bar, st == FP_OK ? NULL : "failed");
 *
 * One bar serves one call at a time (the library never runs two progress
 * callbacks of one call at once); it holds no resources.
 */
#ifndef FP_COMMON_PROGRESS_BAR_H
#define FP_COMMON_PROGRESS_BAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp__pbar_mode {
    FP__PBAR_AUTO = 0, /* TTY when `out` is a terminal, else PLAIN */
    FP__PBAR_TTY,
    FP__PBAR_PLAIN,
    FP__PBAR_OFF       /* draws nothing */
} fp__pbar_mode_t;

typedef struct fp__pbar {
    FILE *out;
    char label[48];
    fp__pbar_mode_t mode; /* resolved: TTY, PLAIN or OFF */
    double t0;            /* when the first update came (init if none) */
    double last_draw;
    size_t done, total;   /* as last reported */
    int decile;           /* PLAIN: last 10% step printed */
    bool started, ended;
} fp__pbar_t;

/* `out` a stdio stream (stderr, normally); `label` what runs ("map"). */
void fp__pbar_init(fp__pbar_t *b, FILE *out, const char *label,
                   fp__pbar_mode_t mode);

/* A report: draws if due.  done == total draws the final line. */
void fp__pbar_update(fp__pbar_t *b, size_t done, size_t total);

/* The same, as an fp_progress_fn_t (`arg`: the bar). */
void fp__pbar_progress(void *arg, size_t done, size_t total);

/* The call is over: the final line if none was drawn yet, saying
 * `outcome` ("failed", "canceled"; NULL: done).  Idempotent. */
void fp__pbar_end(fp__pbar_t *b, const char *outcome);

/* As above with the time given (monotonic seconds): for tests. */
void fp__pbar_update_at(fp__pbar_t *b, size_t done, size_t total, double now);
void fp__pbar_end_at(fp__pbar_t *b, const char *outcome, double now);

/* "12.3 k/s"-style rate and "1:05" / "1:02:03" durations, into buf. */
void fp__pbar_fmt_rate(char *buf, size_t cap, double per_s);
void fp__pbar_fmt_eta(char *buf, size_t cap, double s);

#ifdef __cplusplus
}
#endif

#endif
