#include "core.h"

#include <stdlib.h>

fp_status_t fp_context_create(const fp_context_params_t *params,
                              fp_context_t **ctx_p)
{
    static const fp_context_params_t defaults = {0};
    if (ctx_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;
    if (params->log_level < FP_LOG_DEFAULT || params->log_level > FP_LOG_OFF)
        return FP_ERR_INVALID;

    fp_context_t *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return FP_ERR_NOMEM;
    ctx->log.level = params->log_level != FP_LOG_DEFAULT
                         ? fp__log_threshold(params->log_level)
                         : fp__log_default()->level;
    ctx->log.fn = params->log_fn;
    ctx->log.user_data = params->log_user_data;

    fp_status_t status = fp__topo_create(&ctx->log, &ctx->topo);
    if (status != FP_OK) {
        free(ctx);
        return status;
    }
    fp__debug(&ctx->log, "context created: %u usable cores",
              fp__topo_ncores(ctx->topo));
    *ctx_p = ctx;
    return FP_OK;
}

void fp_context_destroy(fp_context_t *ctx)
{
    if (ctx == NULL)
        return;
    if (atomic_load(&ctx->pools) != 0) {
        /* freeing it would pull the topology from under running executors */
        fp__error(&ctx->log,
                  "fp_context_destroy: %d pool(s) still alive; destroy them "
                  "first (context left in place)",
                  atomic_load(&ctx->pools));
        return;
    }
    fp__topo_destroy(ctx->topo);
    free(ctx);
}
