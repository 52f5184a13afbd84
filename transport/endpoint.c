/*
 * Connections at the UCX level: creating and freeing them, endpoints (error
 * mode PEER, so a dead peer is reported at once), the listener, connect,
 * FORCE close, and what UCX chose for each endpoint.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "tp_conn.h"
#include "ucx_api.h"


typedef struct ep_failed {
    fp__tp_conn_t *c;
    char reason[160];
} ep_failed_t;

static void ep_failed_close(void *arg)
{
    ep_failed_t *f = arg;
    fp__tp_close(f->c, FP_ERR_PEER, f->reason); /* no-op if closed since */
    fp__tp_conn_unref(f->c);
    free(f);
}

/* UCX reports a failed endpoint from inside its event loop (the TCP
 * transport is still walking that socket's events): closing the endpoint
 * right here made UCX 1.13.1 assert in tcp_iface.c ("conn_state !=
 * CLOSED") when a peer was killed mid-transfer.  The close runs after
 * this round of worker progress instead, as a posted closure. */
static void ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    fp__tp_conn_t *c = arg;
    (void)ep;
    ep_failed_t *f = malloc(sizeof(*f));
    if (f != NULL) {
        f->c = c;
        snprintf(f->reason, sizeof(f->reason), "peer %s failed: %s", c->peer,
                 fp__ucx.status_string(status));
        fp__tp_conn_ref(c);
        if (fp__tp_post(c->tp, ep_failed_close, f) == FP_OK)
            return;
        fp__tp_conn_unref(c);
        free(f);
    }
    char reason[160];
    snprintf(reason, sizeof(reason), "peer %s failed: %s", c->peer,
             fp__ucx.status_string(status));
    fp__tp_close(c, FP_ERR_PEER, reason);
}

static fp__tp_conn_t *conn_new(fp__tp_t *tp, bool client)
{
    fp__tp_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    /* the route token: unguessable (the kernel's CSPRNG), so a message
     * can claim this connection only if it comes from the peer we told */
    do {
        if (getrandom(&c->route, sizeof(c->route), 0) !=
            (ssize_t)sizeof(c->route)) {
            free(c);
            return NULL;
        }
    } while (c->route == 0 || fp__tp_map_get(&tp->by_route, c->route) != NULL);
    if (fp__tp_map_put(&tp->by_route, c->route, c) != FP_OK) {
        free(c);
        return NULL;
    }
    c->tp = tp;
    c->refs = 1;
    c->client = client;
    c->want_encrypt = tp->encrypt;
    c->last_heard = c->last_sent = tp->now;
    c->next = tp->conns;
    if (tp->conns != NULL)
        tp->conns->prev = c;
    tp->conns = c;
    return c;
}

void fp__tp_conn_ref(fp__tp_conn_t *c) { c->refs++; }

void fp__tp_conn_unref(fp__tp_conn_t *c)
{
    if (--c->refs > 0)
        return;
    fp__tp_t *tp = c->tp;
    /* a connection that never got as far as fp__tp_close (a failed
     * connect) must not stay in the route table either */
    if (fp__tp_map_get(&tp->by_route, c->route) == c)
        fp__tp_map_del(&tp->by_route, c->route);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        tp->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fp__tp_conn_fini(c);
    free(c);
}

static void ep_close_done(void *request, ucs_status_t status, void *user_data)
{
    (void)status;
    (void)user_data;
    fp__ucx.request_free(request);
}

void fp__tp_close(fp__tp_conn_t *c, fp_status_t status, const char *reason)
{
    if (c->state == FP__CONN_CLOSED)
        return;
    fp__tp_t *tp = c->tp;
    bool was_ready = c->state == FP__CONN_READY;
    c->state = FP__CONN_CLOSED;
    fp__tp_log(tp,
               status == FP_OK || status == FP_ERR_CLOSED || c->said_goodbye
                   ? FP_LOG_INFO
                   : FP_LOG_WARN,
               "connection %s closed: %s", c->peer,
               reason != NULL ? reason : fp_status_string(status));
    fp__tp_conn_ref(c);
    /* no message can name it any more, whether or not it had an endpoint */
    if (fp__tp_map_get(&tp->by_route, c->route) == c)
        fp__tp_map_del(&tp->by_route, c->route);
    if (c->ep != NULL) {
        ucp_ep_h ep = c->ep;
        fp__tp_ep_del(tp, ep);
        c->ep = NULL;
        /* FORCE: completes even when the peer hangs; pending sends fail */
        ucp_request_param_t p;
        memset(&p, 0, sizeof(p));
        p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK;
        p.flags = UCP_EP_CLOSE_FLAG_FORCE;
        p.cb.send = ep_close_done;
        ucs_status_ptr_t sp = fp__ucx.ep_close_nbx(ep, &p);
        if (UCS_PTR_IS_PTR(sp)) {
            /* completes during progress; nothing waits for it */
        }
    }
    /* Sends UCX has not completed fail through their callbacks: a FORCE
     * close completes every outstanding request with an error. */
    if (tp->handlers.on_closed != NULL && (was_ready || c->client || c->user))
        tp->handlers.on_closed(tp->handlers.arg, c,
                               status == FP_OK ? FP_ERR_CLOSED : status,
                               reason != NULL ? reason
                                              : fp_status_string(status));
    c->refs--;            /* the connection's own (ours still holds it) */
    fp__tp_conn_unref(c); /* ours: frees it unless sends or receives hold it */
}

static void conn_request(ucp_conn_request_h req, void *arg)
{
    fp__tp_t *tp = arg;
    fp__tp_conn_t *c = conn_new(tp, false);
    if (c == NULL) {
        fp__ucx.listener_reject(tp->listener, req);
        return;
    }
    ucp_conn_request_attr_t attr;
    attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
    if (fp__ucx.conn_request_query(req, &attr) == UCS_OK) {
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (attr.client_address.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&attr.client_address;
            inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
            port = ntohs(sin->sin_port);
        } else if (attr.client_address.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&attr.client_address;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
            port = ntohs(s6->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
    }
    ucp_ep_params_t ep_params;
    memset(&ep_params, 0, sizeof(ep_params));
    ep_params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST |
                           UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                           UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep_params.conn_request = req;
    ep_params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep_params.err_handler.cb = ep_error;
    ep_params.err_handler.arg = c;
    ucs_status_t s = fp__ucx.ep_create(tp->worker, &ep_params, &c->ep);
    if (s != UCS_OK) {
        c->ep = NULL;
        fp__tp_log(tp, FP_LOG_WARN, "cannot accept %s: %s", c->peer,
                   fp__ucx.status_string(s));
        fp__tp_close(c, FP_ERR_PEER, "endpoint creation failed");
        return;
    }
    if (fp__tp_ep_put(tp, c->ep, c) != FP_OK) {
        fp__tp_close(c, FP_ERR_NOMEM, "out of memory");
        return;
    }
    fp__tp_log(tp, FP_LOG_DEBUG, "accepted a connection from %s", c->peer);
    fp__tp_conn_start(c);
}

static int parse_sockaddr(const char *addr, uint16_t port,
                          struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (addr == NULL || *addr == '\0')
        addr = "0.0.0.0";
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

fp_status_t fp__tp_listen(fp__tp_t *tp, const char *addr, uint16_t port,
                          uint16_t *port_p)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (tp->listener != NULL)
        return FP_ERR_STATE;
    if (parse_sockaddr(addr, port, &ss, &sl) != 0) {
        fp__tp_log(tp, FP_LOG_ERROR, "listen: '%s' is not an IP address",
                   addr);
        return FP_ERR_INVALID;
    }
    ucp_listener_params_t lp;
    memset(&lp, 0, sizeof(lp));
    lp.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR |
                    UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    lp.sockaddr.addr = (const struct sockaddr *)&ss;
    lp.sockaddr.addrlen = sl;
    lp.conn_handler.cb = conn_request;
    lp.conn_handler.arg = tp;
    ucs_status_t s = fp__ucx.listener_create(tp->worker, &lp, &tp->listener);
    if (s != UCS_OK) {
        tp->listener = NULL;
        fp__tp_log(tp, FP_LOG_ERROR, "cannot listen on %s:%u: %s", addr, port,
                   fp__ucx.status_string(s));
        return fp__from_ucs(s) == FP_ERR_BUSY ? FP_ERR_BUSY : FP_ERR_IO;
    }
    ucp_listener_attr_t la;
    la.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    if (fp__ucx.listener_query(tp->listener, &la) == UCS_OK) {
        if (la.sockaddr.ss_family == AF_INET)
            tp->port = ntohs(((struct sockaddr_in *)&la.sockaddr)->sin_port);
        else
            tp->port = ntohs(((struct sockaddr_in6 *)&la.sockaddr)->sin6_port);
    }
    fp__tp_log(tp, FP_LOG_INFO, "listening on %s:%u (transports: %s)",
               addr != NULL ? addr : "0.0.0.0", tp->port, tp->transports);
    if (port_p != NULL)
        *port_p = tp->port;
    return FP_OK;
}

fp_status_t fp__tp_connect(fp__tp_t *tp, const char *addr, uint16_t port,
                           fp__tp_conn_t **conn_p)
{
    return fp__tp_connect_ex(tp, addr, port, false, conn_p);
}

bool fp__tp_conn_encrypted(const fp__tp_conn_t *c) { return c->encrypt; }

fp_status_t fp__tp_connect_ex(fp__tp_t *tp, const char *addr, uint16_t port,
                              bool encrypt, fp__tp_conn_t **conn_p)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_sockaddr(addr, port, &ss, &sl) != 0) {
        fp__tp_log(tp, FP_LOG_ERROR, "connect: '%s' is not an IP address",
                   addr);
        return FP_ERR_INVALID;
    }
    fp__tp_conn_t *c = conn_new(tp, true);
    if (c == NULL)
        return FP_ERR_NOMEM;
    snprintf(c->peer, sizeof(c->peer), "%s:%u", addr, port);
    c->want_encrypt = encrypt || tp->encrypt;
    ucp_ep_params_t ep_params;
    memset(&ep_params, 0, sizeof(ep_params));
    ep_params.field_mask = UCP_EP_PARAM_FIELD_FLAGS |
                           UCP_EP_PARAM_FIELD_SOCK_ADDR |
                           UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                           UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep_params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    ep_params.sockaddr.addr = (const struct sockaddr *)&ss;
    ep_params.sockaddr.addrlen = sl;
    ep_params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep_params.err_handler.cb = ep_error;
    ep_params.err_handler.arg = c;
    ucs_status_t s = fp__ucx.ep_create(tp->worker, &ep_params, &c->ep);
    if (s != UCS_OK) {
        c->ep = NULL;
        c->state = FP__CONN_CLOSED;
        fp__tp_log(tp, FP_LOG_ERROR, "cannot connect to %s: %s", c->peer,
                   fp__ucx.status_string(s));
        fp__tp_conn_unref(c);
        return FP_ERR_IO;
    }
    fp_status_t st = fp__tp_ep_put(tp, c->ep, c);
    if (st != FP_OK) {
        fp__tp_close(c, st, "out of memory");
        return st;
    }
    fp__tp_conn_start(c);
    *conn_p = c;
    return FP_OK;
}

/* What UCX chose for this endpoint, from ucp_ep_print_info's lane table
 * (UCX 1.13 has no query for it): "am=sysv/memory rma=cma/memory". */
void fp__tp_conn_describe(fp__tp_conn_t *c)
{
    char *text = NULL;
    size_t len = 0;
    char am[96] = "", rma[96] = "";
    FILE *f = c->ep != NULL ? open_memstream(&text, &len) : NULL;
    if (f == NULL)
        return;
    fp__ucx.ep_print_info(c->ep, f);
    fclose(f);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *lane = strstr(line, "lane[");
        char *colon = lane != NULL ? strchr(lane, ':') : NULL;
        if (colon == NULL || strstr(colon, " cm ") == colon)
            continue;
        /* "lane[1]:  2:sysv/memory.0 md[1] -> ... am am_bw#0" */
        char *name = strchr(colon + 1, ':');
        if (name == NULL)
            continue;
        name++;
        size_t n = strcspn(name, " ");
        char tl[48];
        snprintf(tl, sizeof(tl), "%.*s", (int)(n < 47 ? n : 47), name);
        char *dot = strrchr(tl, '.');
        if (dot != NULL && dot > strchr(tl, '/'))
            *dot = '\0';
        char *dst = strstr(line, " am ") || strstr(line, " am\0") ? am
                    : strstr(line, "rma_bw") ? rma : NULL;
        if (dst == NULL || strstr(dst, tl) != NULL ||
            strlen(dst) + strlen(tl) + 2 > sizeof(am))
            continue;
        if (dst[0] != '\0')
            strcat(dst, ",");
        strcat(dst, tl);
    }
    free(text);
    snprintf(c->transports, sizeof(c->transports), "am=%s rndv=%s",
             am[0] ? am : "?", rma[0] ? rma : am[0] ? am : "?");
}

const char *fp__tp_conn_transports(const fp__tp_conn_t *c)
{
    return c->transports;
}

void fp__tp_conn_set_user(fp__tp_conn_t *c, void *user) { c->user = user; }
void *fp__tp_conn_user(const fp__tp_conn_t *c) { return c->user; }
const char *fp__tp_conn_peer(const fp__tp_conn_t *c) { return c->peer; }

void fp__tp_conn_set_deadline(fp__tp_conn_t *c, double deadline)
{
    fp__tp_t *tp = c->tp;
    c->deadline = deadline > 0 ? deadline : 0;
    double hb = tp->heartbeat_interval;
    if (c->deadline > 0 && c->deadline / 4 < hb)
        hb = c->deadline / 4;
    c->hb_interval = hb;
    if (hb / 4 < tp->timer_tick)
        tp->timer_tick = hb / 4;
    tp->next_timer = tp->now; /* the next round sees the new timers */
}
const char *fp__tp_conn_peer_id(const fp__tp_conn_t *c) { return c->peer_id; }
uint32_t fp__tp_conn_peer_executors(const fp__tp_conn_t *c)
{
    return c->peer_executors;
}
uint8_t fp__tp_conn_peer_role(const fp__tp_conn_t *c) { return c->peer_role; }
size_t fp__tp_rndv_threshold(const fp__tp_t *tp) { return tp->rndv_threshold; }
uint16_t fp__tp_port(const fp__tp_t *tp) { return tp->port; }

