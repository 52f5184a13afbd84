/* The tools' progress display (progress_bar.h). */
#define _POSIX_C_SOURCE 200809L
#include "common/progress_bar.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TTY_EVERY_S 0.1   /* redraws of the terminal line */
#define PLAIN_EVERY_S 5.0 /* plain lines while the count moves */
#define BAR_WIDTH 24

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void fp__pbar_init(fp__pbar_t *b, FILE *out, const char *label,
                   fp__pbar_mode_t mode)
{
    memset(b, 0, sizeof(*b));
    b->out = out;
    snprintf(b->label, sizeof(b->label), "%s", label != NULL ? label : "");
    if (out == NULL)
        mode = FP__PBAR_OFF;
    else if (mode == FP__PBAR_AUTO)
        mode = isatty(fileno(out)) ? FP__PBAR_TTY : FP__PBAR_PLAIN;
    b->mode = mode;
    b->t0 = mono_now();
    b->decile = -1;
}

void fp__pbar_fmt_rate(char *buf, size_t cap, double r)
{
    if (!(r > 0) || !isfinite(r))
        snprintf(buf, cap, "0/s");
    else if (r < 1e3)
        snprintf(buf, cap, "%.0f/s", r);
    else if (r < 1e6)
        snprintf(buf, cap, "%.1f k/s", r / 1e3);
    else if (r < 1e9)
        snprintf(buf, cap, "%.1f M/s", r / 1e6);
    else
        snprintf(buf, cap, "%.1f G/s", r / 1e9);
}

void fp__pbar_fmt_eta(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || s > 359999) { /* unknown, or 100 h and more */
        snprintf(buf, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

static int percent(size_t done, size_t total)
{
    return total == 0 ? 100 : (int)((double)done * 100.0 / (double)total);
}

static void draw(fp__pbar_t *b, double now, const char *outcome, bool final)
{
    double el = now - b->t0;
    double rate = el > 0 ? (double)b->done / el : 0;
    char rs[32], es[32];
    fp__pbar_fmt_rate(rs, sizeof(rs), rate);
    int pc = percent(b->done, b->total);
    const char *sep = b->label[0] != '\0' ? ": " : "";
    if (b->mode == FP__PBAR_TTY) {
        char bar[BAR_WIDTH + 1];
        size_t fill = b->total == 0 ? BAR_WIDTH
                                    : (size_t)((double)b->done * BAR_WIDTH /
                                               (double)b->total);
        for (size_t k = 0; k < BAR_WIDTH; k++)
            bar[k] = k < fill ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        if (final)
            snprintf(es, sizeof(es), "%s in %.2f s",
                     outcome != NULL ? outcome : "done", el);
        else {
            char eta[24];
            fp__pbar_fmt_eta(eta, sizeof(eta),
                             rate > 0 ? (double)(b->total - b->done) / rate
                                      : -1);
            snprintf(es, sizeof(es), "ETA %s", eta);
        }
        fprintf(b->out, "\r%s%s[%s] %3d%% %zu/%zu %s %s\033[K%s", b->label,
                b->label[0] != '\0' ? " " : "", bar, pc, b->done, b->total, rs,
                es, final ? "\n" : "");
    } else if (final) {
        if (outcome == NULL)
            fprintf(b->out, "%s%s%zu/%zu (100%%) done in %.2f s, %s\n",
                    b->label, sep, b->done, b->total, el, rs);
        else
            fprintf(b->out, "%s%s%s at %zu/%zu (%d%%) after %.2f s\n",
                    b->label, sep, outcome, b->done, b->total, pc, el);
    } else {
        fp__pbar_fmt_eta(es, sizeof(es),
                         rate > 0 ? (double)(b->total - b->done) / rate : -1);
        fprintf(b->out, "%s%s%zu/%zu (%d%%), %s, ETA %s\n", b->label, sep,
                b->done, b->total, pc, rs, es);
    }
    fflush(b->out);
    b->last_draw = now;
}

void fp__pbar_update_at(fp__pbar_t *b, size_t done, size_t total, double now)
{
    if (b->mode == FP__PBAR_OFF || b->ended)
        return;
    if (!b->started) {
        b->started = true;
        b->last_draw = b->t0;
    }
    bool moved = done != b->done;
    b->done = done <= total ? done : total;
    b->total = total;
    if (b->done == total) {
        b->ended = true;
        draw(b, now, NULL, true);
        return;
    }
    if (b->mode == FP__PBAR_TTY) {
        if (now - b->last_draw >= TTY_EVERY_S)
            draw(b, now, NULL, false);
        return;
    }
    int dec = total > 0 ? (int)((double)b->done * 10.0 / (double)total) : 10;
    if ((dec > b->decile && dec > 0) ||
        (moved && now - b->last_draw >= PLAIN_EVERY_S)) {
        b->decile = dec;
        draw(b, now, NULL, false);
    }
}

void fp__pbar_update(fp__pbar_t *b, size_t done, size_t total)
{
    fp__pbar_update_at(b, done, total, mono_now());
}

void fp__pbar_progress(void *arg, size_t done, size_t total)
{
    fp__pbar_update(arg, done, total);
}

void fp__pbar_end_at(fp__pbar_t *b, const char *outcome, double now)
{
    if (b->mode == FP__PBAR_OFF || b->ended)
        return;
    b->ended = true;
    if (outcome == NULL && b->done != b->total)
        outcome = "stopped";
    draw(b, now, outcome, true);
}

void fp__pbar_end(fp__pbar_t *b, const char *outcome)
{
    fp__pbar_end_at(b, outcome, mono_now());
}
