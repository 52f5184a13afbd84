/*
 * libfastpool — a multiprocessing.Pool for C.
 *
 * Umbrella header: include only this one.
 *
 * Conventions that hold for every call below:
 *  - Functions return fp_status_t; output parameters (`*x_p`) are written only
 *    on success.
 *  - Parameter structs are "zero is default": `fp_pool_params_t p = {0};` is a
 *    valid, fully defaulted value, and a NULL params pointer means the same.
 *  - Tasks are found by name in a process-wide registry (FP_TASK_REGISTER),
 *    never by function pointer, and all their inputs and outputs are byte
 *    buffers with sizes, never pointers into the caller's memory.  This is
 *    what lets the same call run unchanged on executors on another machine.
 *  - Buffers passed in (inputs, output arrays) are BORROWED: the caller keeps
 *    them alive and unchanged until the call, or the future it returned, has
 *    completed.  Buffers handed out are owned by whoever the call says.
 *  - A call that takes a callback and returns an error never invokes that
 *    callback.  A call that returns FP_OK invokes exactly one of
 *    (callback, error_callback) exactly once.
 *  - Linking the library changes nothing in the host program: no signal
 *    handler, no thread and no UCX before the first call.  UCX is loaded
 *    (dlopen) only when a transport is first used (the first pool with
 *    nodes or a server, fp_node_start, fp_server_start or
 *    fp_server_nodes; the client transport then stays, one
 *    sleeping thread, until the process exits, and logs to stderr at
 *    FP_LOG_LEVEL, not through a context's sink), and its own signal
 *    handlers (SIGSEGV/SIGBUS/SIGFPE/SIGILL backtraces, the SIGHUP debug
 *    action) are removed again, the program's dispositions restored, unless
 *    FP_UCX_SIGNALS=yes asks to keep them.
 *  - Settings left 0 by the code come from the environment (FP_EXECUTORS,
 *    FP_PIN, FP_LOG_LEVEL, ...), then from the libconfig file $FP_CONFIG,
 *    then from the defaults.  A bad environment value is never silently
 *    replaced: one warning names the variable, the value and what is used
 *    instead.
 */
#ifndef FASTPOOL_FASTPOOL_H
#define FASTPOOL_FASTPOOL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fastpool/export.h"
#include "fastpool/log.h"
#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP_VERSION_MAJOR 0
#define FP_VERSION_MINOR 1
#define FP_VERSION_PATCH 0

/* Most arguments a single call may take (starmap, apply). */
#define FP_MAX_ARGS 16
/* Longest error message kept (including the terminating NUL). */
#define FP_ERROR_MAX 256
/* Longest task or worker-class name (including the terminating NUL). */
#define FP_NAME_MAX 64

FP_API const char *fp_version_string(void);

/* ------------------------------------------------------------------------ */
/* Buffers and errors                                                        */
/* ------------------------------------------------------------------------ */

/* A read-only byte buffer: `size` bytes at `data`. */
typedef struct fp_cbuf {
    const void *data;
    size_t size;
} fp_cbuf_t;

/* A writable byte buffer. */
typedef struct fp_buf {
    void *data;
    size_t size;
} fp_buf_t;

/* An input array for starmap: element i of this argument is the `elem_size`
 * bytes at `(const char *)base + i * elem_size`. */
typedef struct fp_array {
    const void *base;
    size_t elem_size;
} fp_array_t;

/* What went wrong in a call: the status, an index, and the message the task
 * gave with fp_task_error() (or one the library wrote).  `index` is the
 * element's input index for map-like calls and iterators, 0 for apply, and
 * the failing executor's index (0..fp_pool_size()-1) for fp_pool_update and
 * for a worker-class init error in fp_pool_create. */
typedef struct fp_error {
    fp_status_t status;
    size_t index;
    char message[FP_ERROR_MAX];
} fp_error_t;

/* ------------------------------------------------------------------------ */
/* Logging and context                                                       */
/* ------------------------------------------------------------------------ */

typedef struct fp_context_params {
    fp_log_level_t log_level; /* 0: FP_LOG_LEVEL env ("error".."trace") or warn */
    fp_log_fn_t log_fn;       /* NULL: write to stderr */
    void *log_user_data;
} fp_context_params_t;

typedef struct fp_context fp_context_t;

/* Create a context: logging, the machine topology, and (later) the
 * transport.  `params` may be NULL.  Free with fp_context_destroy() after
 * every pool made from it has been destroyed; while pools are alive it logs
 * an error and leaves the context in place. */
FP_API fp_status_t fp_context_create(const fp_context_params_t *params,
                                     fp_context_t **ctx_p);
FP_API void fp_context_destroy(fp_context_t *ctx);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                      */
/* ------------------------------------------------------------------------ */

/* The executing context handed to a task or a fork-join job.  It belongs to
 * the executor that runs the call and is valid only during that call. */
typedef struct fp_task fp_task_t;

/* A pool of executors (see fp_pool_create). */
typedef struct fp_pool fp_pool_t;

/*
 * A task function.
 *
 *  args[0..nargs)  the call's inputs (map/imap: one, the element; starmap:
 *                  one per input array; apply: as given).  Valid only during
 *                  the call; never write through them.
 *  out             map/starmap/imap: preset to this element's result slot in
 *                  the caller's array ({slot, out_size}); write at most
 *                  out->size bytes.  apply: {NULL, 0}; produce a result of any
 *                  size with fp_task_output().
 *
 * Return FP_OK, or an error status (best with fp_task_error() for a message).
 * Tasks run concurrently on many executors and must be thread-safe.
 */
typedef fp_status_t (*fp_task_fn_t)(fp_task_t *task, const fp_cbuf_t *args,
                                     size_t nargs, fp_buf_t *out);

/* Register `fn` under `name` (at most FP_NAME_MAX-1 bytes).  Registering the
 * same (name, fn) again is a no-op; the same name with another function is
 * FP_ERR_EXISTS.  Thread-safe.  Usually done through FP_TASK_REGISTER. */
FP_API fp_status_t fp_task_register(const char *name, fp_task_fn_t fn);

/* Look a task up by name: FP_ERR_NOT_FOUND if none, which is also the
 * answer for a name no task can have (empty, or FP_NAME_MAX bytes or more);
 * FP_ERR_INVALID for NULL.  Every call that names a task or worker class
 * answers the same way. */
FP_API fp_status_t fp_task_lookup(const char *name, fp_task_fn_t *fn_p);

/* Register `fn` under the name "fn" when the program (or a module that a node
 * dlopen()s) is loaded, so every copy of the binary has the same registry. */
#define FP_TASK_REGISTER(fn) FP_TASK_REGISTER_AS(#fn, fn)
#define FP_TASK_REGISTER_AS(name, fn)                                          \
    __attribute__((constructor)) static void fp__register_task_##fn(void)      \
    {                                                                          \
        fp__task_register_at_load(name, fn, __FILE__, __LINE__);               \
    }

/* Used by FP_TASK_REGISTER: a failure (a name clash) is logged through the
 * process default logger (stderr, FP_LOG_LEVEL); the task stays
 * unregistered, so calls naming it fail with FP_ERR_NOT_FOUND. */
FP_API void fp__task_register_at_load(const char *name, fp_task_fn_t fn,
                                      const char *file, int line);

/* Set the task's error message (printf-style) and return `status`, so a task
 * can `return fp_task_error(task, FP_ERR_INVALID, "bad input %d", x);`.
 * `status` must be negative; FP_ERR_TASK is used otherwise. */
FP_API fp_status_t fp_task_error(fp_task_t *task, fp_status_t status,
                                 const char *fmt, ...) FP_PRINTF(3, 4);

/* Give the task a result buffer of `size` bytes and return it.  apply: the
 * buffer is allocated by the library and becomes the call's result (NULL on
 * out of memory).  map-like calls: returns the element's slot when `size`
 * fits in it (NULL otherwise, and the element fails with FP_ERR_OVERFLOW).
 * The task writes the result into the returned memory before returning. */
FP_API void *fp_task_output(fp_task_t *task, size_t size);

/* This executor's index in its pool, 0..fp_pool_size()-1. */
FP_API unsigned fp_task_executor(const fp_task_t *task);

/* The pool this task runs in: the one to make nested calls on (fp_map,
 * fp_apply, fp_imap... from inside a task).  On a node it is that node's
 * part of the client's pool, so nested work runs on that node. */
FP_API fp_pool_t *fp_task_pool(const fp_task_t *task);

/* This executor's worker-class state (see fp_worker_class_t), NULL if the
 * pool has no worker class. */
FP_API void *fp_task_state(fp_task_t *task);

/* The pool's init data (a copy the pool owns), {NULL, 0} if none. */
FP_API fp_cbuf_t fp_task_init_data(const fp_task_t *task);

/* ------------------------------------------------------------------------ */
/* Worker classes: state per executor                                        */
/* ------------------------------------------------------------------------ */

/*
 * A worker class gives each executor a private, zeroed state block of
 * `state_size` bytes (aligned to 64) that lives as long as the pool.
 *  init    runs once per executor, on that executor, before its first task,
 *          with the pool's init data.  An error fails fp_pool_create().
 *  update  runs on every executor for every fp_pool_update(), between tasks
 *          (never while that executor has a task on its stack, even one
 *          that is waiting or running nested work), in update order.
 *  fini    runs once per executor when the pool is destroyed.
 * Any hook may be NULL.  The struct is copied at registration.
 */
typedef struct fp_worker_class {
    const char *name;
    size_t state_size;
    fp_status_t (*init)(fp_task_t *task, void *state, fp_cbuf_t init_data);
    fp_status_t (*update)(fp_task_t *task, void *state, fp_cbuf_t update);
    void (*fini)(fp_task_t *task, void *state);
    /* message: runs on the executor a message was sent to (fp_pool_send,
     * fp_pool_send_node), between tasks as `update` does, one message at a
     * time, in the order they were sent to that executor.  `msg` is valid
     * during the call.  An error is logged (nobody waits for it). */
    fp_status_t (*message)(fp_task_t *task, void *state, fp_cbuf_t msg);
} fp_worker_class_t;

/* Registering an identical class (same name, size and hooks) again is a
 * no-op; the same name with anything different is FP_ERR_EXISTS. */
FP_API fp_status_t fp_worker_class_register(const fp_worker_class_t *wc);

/* Register a worker class at load time; `wc` is the name of a static
 * fp_worker_class_t. */
#define FP_WORKER_CLASS_REGISTER(wc)                                           \
    __attribute__((constructor)) static void fp__register_wc_##wc(void)        \
    {                                                                          \
        fp__worker_class_register_at_load(&(wc), __FILE__, __LINE__);          \
    }

FP_API void fp__worker_class_register_at_load(const fp_worker_class_t *wc,
                                              const char *file, int line);

/* ------------------------------------------------------------------------ */
/* Pools                                                                      */
/* ------------------------------------------------------------------------ */

typedef enum fp_pin {
    FP_PIN_DEFAULT = 0, /* FP_PIN env ("none"/"core"), else one core each */
    FP_PIN_CORE = 1,    /* executor i on core i mod cores (hwloc) */
    FP_PIN_NONE = 2     /* let the OS place executors */
} fp_pin_t;

/* Executors in the calling process when the pool also has nodes. */
typedef enum fp_local {
    FP_LOCAL_DEFAULT = 0, /* local executors only when the pool has no nodes */
    FP_LOCAL_YES = 1,     /* run local_executors here as well as on nodes */
    FP_LOCAL_NO = 2       /* none here (a pool with no nodes then fails) */
} fp_local_t;

/* A membership change of a pool with nodes. */
typedef enum fp_node_event_kind {
    FP_EVENT_JOINED = 1, /* its pool is open there and it takes work */
    FP_EVENT_LEFT = 2,   /* it stopped cleanly (SIGTERM): finished what it was
                           running, gave back what it had queued */
    FP_EVENT_DIED = 3    /* killed, hung past its deadline, or unreachable:
                           its unfinished work reruns elsewhere */
} fp_node_event_kind_t;

typedef struct fp_node_event {
    fp_node_event_kind_t kind;
    const char *address;  /* as given ("host:port") */
    const char *host;     /* the node's host name */
    unsigned executors;   /* this pool's executors there */
    unsigned index_base;  /* its first executor's index (fp_task_executor) */
    const char *reason;   /* LEFT / DIED: why; "" for JOINED */
} fp_node_event_t;

/* Runs on a thread of the pool's own, one event at a time in the order they
 * happened; `ev` is valid during the call.  It may call any fp_pool_
 * function of this pool except fp_pool_destroy (which waits for that
 * thread).  The same thread runs the pool's node_wait and straggler
 * timers: a callback that blocks (fp_pool_add_node waits up to
 * connect_timeout) holds them back meanwhile. */
typedef void (*fp_node_event_fn_t)(void *arg, const fp_node_event_t *ev);

struct fp_message; /* see fp_pool_collect */
struct fp_host_params; /* see fp_pool_add_host */

typedef struct fp_pool_params {
    unsigned executors;       /* Without nodes: executors in this process.
                                 With nodes: the pool's executors in all,
                                 taken from the nodes as they connect (each
                                 gives at most its own count; a node not
                                 needed is let go); 0: every executor of
                                 every node.  Nodes pin their executors as
                                 they were started (`pin` is this
                                 process's).
                                 Without nodes, 0: FP_EXECUTORS env, else one per core of
                                 this process's CPU set; at most 4096.  More
                                 executors than cores is fine (for tasks that
                                 block on I/O): idle ones sleep, and only a
                                 few (cores/2 + 1) look for work at a time.
                                 Executor threads get the default thread
                                 stack size (RLIMIT_STACK, usually 8 MiB of
                                 address space, committed only as used). */
    fp_pin_t pin;             /* 0: FP_PIN env, else FP_PIN_CORE */
    const char *worker_class; /* NULL: none; else a registered class name */
    fp_cbuf_t init_data;      /* copied; handed to every executor's init
                                 (sent once to each node, shared there) */
    /* Nodes ("host:port" of a fastpool-worker or of a program serving as a
     * node, see fp_node_start): the pool's executors run there.  NULL/0:
     * the comma-separated list in FP_NODES, if set; else none, and the pool
     * is a local pool exactly as without this field.  The secret comes from
     * FP_SECRET_FILE / FP_SECRET (the nodes' must match). */
    const char *const *nodes;
    size_t nnodes;
    fp_local_t local;         /* executors in this process as well */
    unsigned local_executors; /* with FP_LOCAL_YES; 0: one per core */
    double connect_timeout;   /* seconds for each node to connect, prove the
                                 secret and open the pool; 0: 10 s */
    /* Failures (pools with nodes).  A node is dead when its connection
     * breaks (the process was killed, the link is gone) or when it has been
     * silent for node_deadline seconds (hung: stopped, a frozen host).  Its
     * unfinished work reruns on the other executors; every element's result
     * is delivered exactly once (results carry the record and its attempt;
     * anything arriving late from a dead node is dropped and counted in
     * fp_pool_stats).  A dead node that wakes up is a stranger: it is not
     * taken back until fp_pool_add_node names it again. */
    unsigned max_attempts;    /* nodes that may die while holding an element
                                 before that element fails (FP_ERR_PEER,
                                 "element 17 was running on 3 nodes that
                                 died"); the other elements go on.  From
                                 max_attempts - 1 deaths (at least 1) an
                                 element runs alone on a node; with no node
                                 left for that (only this process's
                                 executors), it fails then.  0: 3 */
    double node_deadline;     /* seconds of silence that make a node dead
                                 (heartbeats keep an idle or busy node
                                 heard); 0: FP_PEER_DEADLINE, else 10 s */
    double node_wait;         /* when no executor is left: seconds queued
                                 work waits for a node to join (or rejoin)
                                 before it fails; 0: it fails at once */
    fp_node_event_fn_t on_node; /* membership changes, see fp_node_event_t */
    void *on_node_arg;
    /* Messages executors send (fp_task_send): when set, each goes to this
     * callback instead of the fp_pool_collect queue, on a thread of the
     * pool's own (never an executor or a transport thread), one at a time,
     * in the order each executor sent them; `msg` and its bytes are valid
     * during the call only (do not release it).  It may call any fp_pool_
     * function of this pool except fp_pool_destroy and fp_pool_collect. */
    void (*on_message)(void *arg, const struct fp_message *msg);
    void *on_message_arg;
    /* Task modules (.so paths on this machine) shipped to every node of the
     * pool when it joins (at create, fp_pool_add_node), loaded there before
     * any task goes to it; see fp_pool_ship_module.  FP_SHIP_MODULES (a
     * comma-separated list of paths) adds to these.  A pool without nodes
     * dlopen()s them here; one with local executors (FP_LOCAL_YES) too.
     * Read (and hashed) during fp_pool_create; a module a node cannot load
     * fails the create (or the add) with "node ADDR: module NAME: why".
     * Shipping is part of a node's join: it must fit connect_timeout. */
    const char *const *ship_modules;
    size_t nship_modules;
    /* A rendezvous server ("HOST:PORT" of a fastpool-server, see
     * fp_server_start) to take nodes from; NULL: $FP_SERVER when neither
     * nodes nor FP_NODES are given, else none.  The pool connects to it
     * (same secret as the nodes) within connect_timeout, or fails with
     * `err` naming the server; then adds every node registered there, keeps
     * adding the ones that register later, and forgets the ones that leave.
     * A node the pool is connected to is judged by its own connection (a
     * LEAVE from the server never takes work away from it: a node that
     * stops says goodbye itself, a dead one is found dead directly).  The
     * pool may start with no node; queued work then waits node_wait seconds
     * (0 here: connect_timeout) for one.  A server that goes away later
     * disturbs nothing running: the pool reconnects in the background. */
    const char *server;
    /* Encrypt every message to and from the nodes after the handshake
     * (AES-256-GCM, keys derived from the pool secret and fresh nonces per
     * connection; replayed or altered messages are refused).  false:
     * FP_ENCRYPT, else the config file's transport.encrypt, else off.  The
     * nodes must encrypt too (fp_node_params_t.encrypt / FP_ENCRYPT=1):
     * a node that differs is refused, with a reason saying which side
     * requires it.  Large buffers are then copied once on sending (into a
     * staging buffer, encrypted): no zero copy on the sending side. */
    bool encrypt;
    /* Hosts to start nodes on over SSH, nothing installed there (see
     * fp_pool_add_host), all at once; the pool is created when every one
     * is up, else not at all (`err` names the host).  NULL/0: the
     * comma-separated list in FP_HOSTS when neither nodes nor FP_NODES are
     * given.  `host_params` (may be NULL) applies to each. */
    const char *const *hosts;
    size_t nhosts;
    const struct fp_host_params *host_params;
    /* A cluster file (libconfig, docs/CONFIG.md): the pool gets its nodes
     * as the file says (bootstrap ssh, server or none; elastic ranges).
     * NULL: $FP_CLUSTER when no nodes, hosts, FP_NODES or FP_HOSTS are
     * given.  Errors name the file and line. */
    const char *cluster;
} fp_pool_params_t;


/* Create a pool of executors (threads pinned with hwloc, one Chase-Lev deque
 * each, work stealing).  On a worker-class init error the pool is not
 * created, the status is returned and `err` (may be NULL) says why. */
FP_API fp_status_t fp_pool_create(fp_context_t *ctx,
                                  const fp_pool_params_t *params,
                                  fp_pool_t **pool_p, fp_error_t *err);

/* Wait for every submitted call to complete (their callbacks included), run
 * the worker-class fini hooks, stop the executors and free the pool.  Futures
 * the caller still holds stay valid until released.  Iterators must be
 * destroyed first: while one is open this returns FP_ERR_BUSY and does
 * nothing.  FP_ERR_STATE from one of the pool's own executors,
 * FP_ERR_INVALID for NULL. */
FP_API fp_status_t fp_pool_destroy(fp_pool_t *pool);

/* Number of executors: this process's and every node's. */
FP_API unsigned fp_pool_size(const fp_pool_t *pool);

/* ------------------------------------------------------------------------ */
/* Nodes                                                                      */
/* ------------------------------------------------------------------------ */

/* Add a node ("host:port") to a running pool: it connects, proves the
 * secret and opens the pool there (worker class, init data) within the
 * pool's connect_timeout, then takes work, calls already running included.
 * On failure nothing changes and `err` names the address and the cause.
 * The new node's executors all join (params->executors limited only the
 * nodes given at creation). */
FP_API fp_status_t fp_pool_add_node(fp_pool_t *pool, const char *address,
                                    fp_error_t *err);

/* Ship a task module (a .so built against libfastpool whose tasks register
 * with FP_TASK_REGISTER) to every node of the pool, and to every node that
 * joins it later; returns once every current node has loaded it, or with
 * the first error (err: "node ADDR: module NAME: why", e.g. dlerror()'s
 * text, or that the bytes did not match their SHA-256).  A node lacking
 * the module is sent its bytes once: modules are named by the SHA-256 of
 * their contents and cached on the node (FP_CACHE_DIR, else
 * $XDG_CACHE_HOME/fastpool, else $HOME/.cache/fastpool, under modules/),
 * so another client, or the next run, sends only the hash.  A pool without
 * nodes (or with local executors) dlopen()s `path` in this process (the
 * program must then link libfastpool as a shared library, or export its
 * symbols, so that the module registers into the same registry).  Tasks
 * named before their module was shipped fail as any unknown task does
 * ("node ADDR has no task named 'x'"); after it, they run.  Modules are
 * never unloaded.  Not from inside a task. */
FP_API fp_status_t fp_pool_ship_module(fp_pool_t *pool, const char *path,
                                       fp_error_t *err);
/*
 * Hosts over SSH, nothing installed there.  fp_pool_add_host(pool, "h1",
 * NULL, NULL) checks that "h1" takes key-based SSH (BatchMode: no password
 * prompt; an unknown host key is refused as ssh refuses it), starts one
 * node there with one executor per core of that host (or `executors`), and
 * adds it to the pool as fp_pool_add_node does.
 *  - What runs there: by default this very program (the SPMD model: its
 *    tasks are compiled in), with this process's arguments, in node mode
 *    (FP_NODE_LISTEN: its first fp_pool_create serves); or `program` (e.g.
 *    fastpool-worker with fp_pool_params_t.ship_modules).
 *  - Nothing installed: the client ships a bundle of the program and every
 *    library it needs (libfastpool, UCX and its transport modules, hwloc,
 *    libconfig, OpenSSL...; not the C library), named by its SHA-256 and
 *    cached on the host (`remote_cache`, else $FP_CACHE_DIR there, else
 *    ~/.cache/fastpool): the next start sends nothing.  FP_BUNDLE_NEVER
 *    runs the program at the same path there instead (an installed or
 *    shared file system).
 *  - The pool secret travels over the SSH channel (the node's stdin), never
 *    on a command line; with none configured (FP_SECRET_FILE, FP_SECRET) a
 *    random one is made for this process.
 *  - The node's output comes back with a "[host] " prefix.
 *  - No orphans: the node exits when the pool is destroyed, when this
 *    process exits or is killed (its SSH process dies with it and the
 *    node's stdin closes), and when the link breaks (the node's connection
 *    to its client dies: it was started with exit_with_client).
 * Errors name the host and the cause (ssh's own words: "Permission denied
 * (publickey)", "No route to host", "Host key verification failed"), within
 * `timeout`.
 */
typedef enum fp_bundle {
    FP_BUNDLE_DEFAULT = 0, /* FP_BUNDLE env (ship|never), else ship */
    FP_BUNDLE_SHIP = 1,    /* ship the bundle (cached there by hash) */
    FP_BUNDLE_NEVER = 2    /* run the program at the same path there */
} fp_bundle_t;

typedef struct fp_host_params {
    const char *user;          /* ssh -l; NULL: ssh's own (ssh_config) */
    unsigned port;             /* ssh -p; 0: ssh's own */
    const char *identity;      /* ssh -i */
    const char *ssh_config;    /* ssh -F; NULL: FP_SSH_CONFIG, else ssh's */
    const char *const *ssh_options; /* more ssh arguments ("-o", "X=y") */
    size_t nssh_options;
    unsigned executors;        /* 0: one per core of that host */
    double timeout;            /* seconds for ssh to answer and the node to
                                  start (reset while a bundle streams);
                                  0: FP_SSH_TIMEOUT, else 10 */
    fp_bundle_t bundle;
    const char *program;       /* NULL: this program (/proc/self/exe) with
                                  this process's arguments */
    const char *const *program_args; /* with `program` */
    size_t nprogram_args;
    const char *remote_cache;  /* cache folder there; NULL: see above */
    const char *const *env;    /* "NAME=VALUE" set for the node */
    size_t nenv;
    unsigned node_port;        /* the node's port there; 0: any */
} fp_host_params_t;

/* Start a node on `host` ("name", "user@name", an address or an ssh_config
 * alias) over SSH and add it to the pool (see above).  `params` may be
 * NULL.  The pool must take nodes (created with nodes, hosts, FP_NODES or
 * local = FP_LOCAL_YES).  On failure nothing is left running there. */
FP_API fp_status_t fp_pool_add_host(fp_pool_t *pool, const char *host,
                                    const fp_host_params_t *params,
                                    fp_error_t *err);

typedef enum fp_node_state {
    FP_NODE_CONNECTING = 0, /* being added */
    FP_NODE_UP = 1,         /* taking work */
    FP_NODE_LOST = 2,       /* dead: killed, hung or unreachable (`reason`) */
    FP_NODE_LEFT = 3        /* it stopped cleanly, or was let go */
} fp_node_state_t;

typedef struct fp_node_info {
    char address[128];   /* as given ("host:port"); "local" for this process */
    char host[64];       /* the node's host name */
    unsigned executors;  /* executors of this pool there */
    unsigned cores;      /* cores the node has */
    unsigned gpus;       /* GPUs the node has */
    fp_node_state_t state;
    char transports[64]; /* what UCX uses to reach it ("am=tcp/lo ...") */
    uint64_t elements;   /* elements (apply: calls) it has completed */
    char reason[FP_ERROR_MAX]; /* why it was lost */
} fp_node_info_t;

/* The pool's nodes, the local executors first (address "local") when it
 * has any: up to `cap` entries into `info`, the number there is into
 * *count_p (may exceed cap). */
FP_API fp_status_t fp_pool_nodes(fp_pool_t *pool, fp_node_info_t *info,
                                 size_t cap, size_t *count_p);

/* Nodes taking work now (the local executors count as one). */
FP_API size_t fp_pool_node_count(fp_pool_t *pool);
/* Executors running a task now (holding work, on nodes). */
FP_API unsigned fp_pool_active(fp_pool_t *pool);

/* Transport counters of a pool's connections (all zero without nodes). */
typedef struct fp_pool_stats {
    uint64_t msgs_sent, msgs_received;
    uint64_t bytes_sent, bytes_received;
    uint64_t rndv_sent, rndv_received; /* messages that went zero-copy */
    uint64_t bytes_copied;       /* payload bytes fastpool copied (eager
                                    messages kept past their callback; with
                                    encryption also every payload byte
                                    sent, sealed into a staging buffer,
                                    and every eager byte received) */
    uint64_t large_bytes_copied; /* of those, in messages at or above the
                                    rendezvous threshold, by the pool layer:
                                    0 by design (encryption's staging is
                                    counted in bytes_copied only) */
    uint64_t rndv_threshold;
    /* membership and failures */
    uint64_t nodes_joined, nodes_left, nodes_died;
    uint64_t records_rerun;   /* records of dead nodes handed out again */
    uint64_t elements_rerun;  /* their elements */
    uint64_t elements_failed; /* elements that reached max_attempts */
    uint64_t late_dropped;    /* messages from dead or stale peers dropped */
    /* stragglers (fp_call_params_t.speculate) */
    uint64_t copies_started;  /* records copied onto idle executors */
    uint64_t copies_won;      /* copies whose result came first */
    uint64_t copies_dropped;  /* losers' results dropped */
    /* task modules (fp_pool_ship_module): modules whose bytes were sent to a
     * node that needed them (one per node and module), and those bytes */
    uint64_t modules_shipped;
    uint64_t module_bytes_sent;
} fp_pool_stats_t;

FP_API fp_status_t fp_pool_stats(fp_pool_t *pool, fp_pool_stats_t *stats);

/*
 * The node role: serve pools for clients.  A node runs the work-stealing
 * scheduler over its executors (pinned as a local pool is), finds tasks
 * and worker classes by name in its own registry (the program's, the
 * modules it loaded, and the modules clients shipped to it: see
 * fp_pool_ship_module; cached under FP_CACHE_DIR), and announces its host name, executors, cores, GPUs
 * and capabilities when a client connects.
 */
typedef struct fp_node_params {
    const char *listen;       /* "ADDR:PORT" (port 0: any); NULL: FP_NODE_LISTEN,
                                 else "0.0.0.0:0" */
    unsigned executors;       /* 0: FP_EXECUTORS, else one per core */
    fp_pin_t pin;
    const char *secret_file;  /* NULL: FP_SECRET_FILE / FP_SECRET */
    const char *const *modules; /* task modules (.so) to dlopen first */
    size_t nmodules;
    bool exit_with_client;    /* stop when its last client has gone (after
                                 the first came): a node a client started
                                 for itself */
    const char *server;       /* "HOST:PORT" of a fastpool-server to
                                 register with (same secret); NULL: none.
                                 Registration runs in the background and
                                 comes back after a server restart (tries
                                 at most 1 s apart, one log line per
                                 outage); a server that refuses the secret
                                 stops the node (fp_node_serve returns 1) */
    bool encrypt;             /* require encryption of every message
                                 (see fp_pool_params_t.encrypt); false:
                                 FP_ENCRYPT, else the config file's
                                 transport.encrypt, else off.  A client
                                 that differs is refused */
} fp_node_params_t;

typedef struct fp_node fp_node_t;

/* Start serving (listening, a progress thread); returns at once.  `err`
 * says what failed (a module that does not load, an address in use...). */
FP_API fp_status_t fp_node_start(fp_context_t *ctx,
                                 const fp_node_params_t *params,
                                 fp_node_t **node_p, fp_error_t *err);
/* The address bound ("ADDR:PORT", the port chosen when 0 was asked). */
FP_API const char *fp_node_address(const fp_node_t *node);
/* Ask the node to stop (async-signal-safe). */
FP_API void fp_node_stop(fp_node_t *node);
/* Wait until the node was asked to stop (at most `timeout` seconds, as
 * fp_future_wait): FP_OK or FP_ERR_TIMEOUT. */
FP_API fp_status_t fp_node_wait(fp_node_t *node, double timeout);
/* Say goodbye to every client, close their pools, free everything. */
FP_API void fp_node_destroy(fp_node_t *node);

/* The whole life of a node in one call: start, print "LISTENING ADDR:PORT"
 * as the first line of stdout, serve until SIGTERM or SIGINT, stop cleanly.
 * Returns a process exit status (0 after a signal, 1 on a start error,
 * described on stderr).  A program that links libfastpool becomes a node
 * without any code when FP_NODE_LISTEN is set: its first fp_pool_create()
 * then serves (with FP_EXECUTORS, FP_SECRET_FILE) and exits the process
 * with this status, so the tasks compiled into an SPMD program need no
 * module.  Under a PMIx launcher (mpirun, srun --mpi=pmix; FP_LAUNCH=none
 * turns it off) the same happens without FP_NODE_LISTEN on every rank but
 * the client rank (FP_PMIX_CLIENT_RANK, default 0), whose pools that name
 * no nodes get the other ranks as nodes (README "Under mpirun and Slurm"). */
FP_API int fp_node_serve(fp_context_t *ctx, const fp_node_params_t *params);

/* ------------------------------------------------------------------------ */
/* The rendezvous server                                                      */
/* ------------------------------------------------------------------------ */

/*
 * A server where nodes register and clients learn them (fastpool-server).
 * It is never on the data path: clients connect to the nodes themselves.
 * It keeps, in memory only, the nodes connected to it now; a restarted
 * server learns them again as they re-register.
 */
#define FP_SERVER_PORT 7770 /* the default port */

typedef struct fp_server_params {
    const char *listen;      /* "ADDR:PORT"; NULL: "0.0.0.0:7770" (port 0:
                                any) */
    const char *secret_file; /* NULL: FP_SECRET_FILE / FP_SECRET, else a
                                file made for it (32 random bytes, hex) at
                                $XDG_CONFIG_HOME (else ~/.config)
                                /fastpool/server-PORT.secret, mode 0600 in
                                a 0700 directory; one already there is used,
                                never overwritten */
} fp_server_params_t;

typedef struct fp_server fp_server_t;

/* Start listening (a progress thread of its own); returns at once.  An
 * address in use: FP_ERR_BUSY, "ADDR:PORT is in use: is another
 * fastpool-server running there?". */
FP_API fp_status_t fp_server_start(fp_context_t *ctx,
                                   const fp_server_params_t *params,
                                   fp_server_t **server_p, fp_error_t *err);
/* "ADDR:PORT" bound (the port chosen when 0 was asked). */
FP_API const char *fp_server_address(const fp_server_t *server);
/* The secret file in use ("" when the secret came from FP_SECRET), and
 * whether fp_server_start created it. */
FP_API const char *fp_server_secret_file(const fp_server_t *server,
                                         bool *created_p);
/* Nodes registered now. */
FP_API size_t fp_server_node_count(fp_server_t *server);
/* Say goodbye to every node and client, free everything. */
FP_API void fp_server_destroy(fp_server_t *server);
/* The whole life of a server: start, print "LISTENING ADDR:PORT" and the
 * command that joins a worker, serve until SIGTERM/SIGINT.  Returns a
 * process exit status (1 on a start error, described on stderr). */
FP_API int fp_server_serve(fp_context_t *ctx, const fp_server_params_t *params);

/* A node as a server lists it. */
typedef struct fp_server_node {
    char address[128]; /* "ADDR:PORT" clients connect to */
    char host[64];
    unsigned executors, gpus;
    unsigned busy;     /* executors running a task */
    unsigned queued;   /* records it holds beyond those */
} fp_server_node_t;

/* The nodes registered at `server` ("HOST:PORT"; NULL: $FP_SERVER), asked
 * with the secret in `secret_file` (NULL: FP_SECRET_FILE / FP_SECRET),
 * within 10 s.  *nodes_p: an array of *n_p entries (NULL when 0), freed
 * with fp_server_nodes_free.  `err` names the server and the cause. */
FP_API fp_status_t fp_server_nodes(const char *server, const char *secret_file,
                                   fp_server_node_t **nodes_p, size_t *n_p,
                                   fp_error_t *err);
FP_API void fp_server_nodes_free(fp_server_node_t *nodes);

/* Deliver `update` (copied) to every executor's worker-class update hook,
 * between tasks, and wait until all have run it.  Executors that are asleep
 * are woken to take it.  Returns the first hook error in time (described in
 * `err`; err->index is the executor whose hook failed).
 * FP_ERR_STATE if the pool's worker class has no update hook or if called
 * from inside a task. */
FP_API fp_status_t fp_pool_update(fp_pool_t *pool, fp_cbuf_t update,
                                  fp_error_t *err);

/* ------------------------------------------------------------------------ */
/* Messages to and from executors                                             */
/* ------------------------------------------------------------------------ */

/* Besides tasks, a program can send messages to executors and collect the
 * messages they send back (the manager/worker send / collect / handle
 * model).  A message to an executor is handled by the pool's worker-class
 * `message` hook on that executor, between tasks (as updates are); the
 * messages one executor receives are handled in the order they were sent.
 * Executors send with fp_task_send (from a task or any hook); the client
 * takes those with fp_pool_collect, or gets them through
 * fp_pool_params_t.on_message.  Order is kept per sending executor (and,
 * for messages to executors, per sending thread). */

/* fp_pool_send's `executor` for every executor of the pool. */
#define FP_TO_ALL UINT_MAX

/* A message an executor sent.  `data` is malloc'd and owned by whoever
 * holds the message: fp_message_release frees it (or free(msg->data)). */
typedef struct fp_message {
    unsigned executor; /* the sender's index, 0..fp_pool_size()-1 */
    void *data;
    size_t size;
} fp_message_t;

/* Send a copy of `msg` to executor `executor` (0..fp_pool_size()-1) or to
 * every executor (FP_TO_ALL).  Returns once the message is queued (on this
 * process's executors, or handed to the transport for a node's), not once
 * handled.  FP_ERR_INVALID for an index out of range (err says the range);
 * FP_ERR_STATE if the pool's worker class has no message hook (a pool with
 * nodes knows that only when the client has the class registered too;
 * otherwise a node without the hook logs and drops the message);
 * FP_ERR_PEER if that executor's node is lost (FP_TO_ALL skips lost nodes,
 * and fails so only when no executor is left).  Any thread, tasks too. */
FP_API fp_status_t fp_pool_send(fp_pool_t *pool, unsigned executor,
                                fp_cbuf_t msg, fp_error_t *err);

/* Send a copy of `msg` to every executor of the node at `address` (as
 * given to the pool, "host:port"; "local" for this process's executors).
 * FP_ERR_NOT_FOUND for an address the pool does not have, FP_ERR_PEER for
 * a node lost or gone, otherwise as fp_pool_send. */
FP_API fp_status_t fp_pool_send_node(fp_pool_t *pool, const char *address,
                                     fp_cbuf_t msg, fp_error_t *err);

/* From a task or any worker-class hook: send a copy of `msg` to the client
 * (its fp_pool_collect queue or on_message callback).  FP_ERR_NOMEM, or
 * FP_ERR_INVALID for a NULL task / data with a size. */
FP_API fp_status_t fp_task_send(fp_task_t *task, fp_cbuf_t msg);

/* Take the oldest message executors sent (timeouts as fp_future_wait: 0
 * just looks, > 0 waits at most that long, < 0 forever).  FP_OK and *msg
 * filled (release it with fp_message_release); FP_ERR_TIMEOUT when none
 * came in time; FP_ERR_STATE when the pool has an on_message callback.
 * Any thread (several may collect: each message goes to one). */
FP_API fp_status_t fp_pool_collect(fp_pool_t *pool, fp_message_t *msg,
                                   double timeout);

/* Free a collected message's bytes; the struct is zeroed.  NULL is fine. */
FP_API void fp_message_release(fp_message_t *msg);

/* ------------------------------------------------------------------------ */
/* Futures                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct fp_future fp_future_t;

/* Called once when the call succeeded. */
typedef void (*fp_callback_fn_t)(fp_future_t *future, void *user_data);
/* Called once when the call failed or was canceled; `err` is valid only
 * during the callback. */
typedef void (*fp_error_callback_fn_t)(fp_future_t *future,
                                       const fp_error_t *err, void *user_data);

/* Progress of a long call (fp_call_params_t.on_progress): `done` of `total`
 * elements have completed (run, successfully or with a task error;
 * skipped elements do not count). */
typedef void (*fp_progress_fn_t)(void *arg, size_t done, size_t total);

/* imap's default bound on result bytes in its window (window_bytes). */
#define FP_WINDOW_BYTES_DEFAULT ((size_t)32 << 20)

/* Options for one call; zero is default; the pointer may be NULL. */
typedef struct fp_call_params {
    /* Elements per chunk; 0: automatic.  map's automatic chunks split the
     * range about 8 ways per executor, and a chunk that runs long is split
     * again so idle executors can take part of it.  imap's automatic chunks
     * follow the measured task time: the first chunks hold one element and
     * grow x2 while a chunk takes under ~100 us, up to 4096 elements and
     * n / (16 x executors); a slow chunk shrinks them at once. */
    size_t chunksize;
    /* imap / imap_unordered only: bound on the result bytes (out_size x
     * elements) submitted and not yet taken, in flight or buffered; 0:
     * FP_WINDOW_BYTES_DEFAULT (32 MiB).  Automatic chunks are cut to fit;
     * explicit chunks stay whole and are admitted while they fit.  The
     * window always admits one chunk, so a result larger than the bound
     * still goes through, alone. */
    size_t window_bytes;
    /* Completion callbacks: exactly one of them runs exactly once, on the
     * executor thread that finishes the call's last element (or on the
     * thread calling fp_future_cancel() when that finishes it, or, for a
     * map of 0 elements, on the calling thread before the call returns).  They run
     * before any waiter is released.  They must not block on this pool
     * (no fp_future_wait / fp_map on the same pool) and must not release
     * the future they are given.  Ignored by the blocking calls. */
    fp_callback_fn_t callback;
    fp_error_callback_fn_t error_callback;
    void *user_data;
    /* Stragglers (pools with nodes): when all that is left of this call runs
     * on some executors while others are idle, copies of that work run on
     * the idle ones; the first result wins, the others are dropped, every
     * result still delivered once.  Only for tasks without side effects. */
    bool speculate;
    /* Progress reports: map, starmap (and their async forms), imap and
     * imap_unordered, on local pools and over nodes; not apply.
     * on_progress(progress_arg, done, total) is called at most once per
     * `progress_interval` seconds (0: 0.2 s) while `done` moves, and once
     * more at the end: with done == total when every element completed,
     * or with the count reached when the call failed (map stops at its
     * first error), was canceled, or an iterator was destroyed early.
     * done only grows and never exceeds total.  Every call of it runs on
     * fastpool's progress thread (one per process, never an executor), one
     * at a time.  The last one comes before the call is seen complete: after
     * the completion callback, before fp_future_wait / fp_map return; for
     * iterators, when the last element completed (or in fp_iter_destroy,
     * which waits for it).  It must not block on the pool.  A call
     * without a callback pays nothing for this. */
    fp_progress_fn_t on_progress;
    void *progress_arg;
    double progress_interval;
} fp_call_params_t;

/* Timeouts (every call that takes one: fp_future_wait, fp_future_get,
 * fp_iter_next) are in seconds:
 *   0                          just look, never block;
 *   > 0                        wait at most that long;
 *   < 0, NaN, INFINITY, or any value of 1e9 (~31.7 years) or more
 *                              wait forever (no deadline is computed, so
 *                              huge values such as 1e19 or DBL_MAX are safe).
 * A blocked wait sleeps (it uses no CPU) after at most a short spin.  From
 * inside a task on an executor of the same pool, a wait first runs other
 * work of the pool; when there is none it sleeps until the awaited result
 * arrives or new work does (which it then helps with). */

/* Wait until the call completes, at most `timeout` seconds (see above).
 * FP_OK when it completed (successfully or not), FP_ERR_TIMEOUT otherwise.
 * Safe from any thread; from an executor of the same pool it runs other
 * work while waiting. */
FP_API fp_status_t fp_future_wait(fp_future_t *future, double timeout);

/* fp_future_wait, then the call's status: FP_OK, the first task error in
 * time (described in `err`, may be NULL; see fp_map), FP_ERR_CANCELED, or
 * FP_ERR_TIMEOUT if it
 * had not completed in time (the call goes on). */
FP_API fp_status_t fp_future_get(fp_future_t *future, double timeout,
                                 fp_error_t *err);

/* Non-zero once the call has completed. */
FP_API int fp_future_done(const fp_future_t *future);

/* apply_async's result: a view of the buffer the future owns, valid until
 * fp_future_release().  FP_ERR_STATE if the call has not completed
 * successfully or is not an apply. */
FP_API fp_status_t fp_future_result(const fp_future_t *future,
                                    fp_cbuf_t *result);

/* Ask the call to stop: elements not started are skipped, running ones
 * finish.  The future then completes with FP_ERR_CANCELED (error callback
 * included).  FP_ERR_STATE if it had already completed. */
FP_API fp_status_t fp_future_cancel(fp_future_t *future);

/* Drop the caller's reference.  The call itself goes on to completion
 * (callbacks run); the caller's buffers must stay valid until then. */
FP_API void fp_future_release(fp_future_t *future);

/* ------------------------------------------------------------------------ */
/* Calls                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * map: out[i] = task(in[i]) for i in 0..n-1.  Element i of the input is the
 * `in_size` bytes at in + i*in_size; its result slot the `out_size` bytes at
 * out + i*out_size (out may be NULL when out_size is 0).  Results are in input
 * order.  n == 0 succeeds at once.  On a task error the remaining elements are
 * skipped and the first error is returned (and described in `err`): the
 * first to happen in time, not the lowest failing index (elements run
 * concurrently, and elements after a failure may not run at all);
 * err->index is that element's input index.  Slots of elements that ran
 * keep their results.  Blocking; from inside a task of the
 * same pool it runs as nested parallel work on the executors.
 */
FP_API fp_status_t fp_map(fp_pool_t *pool, const char *task, const void *in,
                          size_t in_size, size_t n, void *out, size_t out_size,
                          const fp_call_params_t *params, fp_error_t *err);

/* map, without blocking: a future to wait on, get, cancel and release. */
FP_API fp_status_t fp_map_async(fp_pool_t *pool, const char *task,
                                const void *in, size_t in_size, size_t n,
                                void *out, size_t out_size,
                                const fp_call_params_t *params,
                                fp_future_t **future_p);

/* starmap: out[i] = task(args[0][i], ..., args[nargs-1][i]); nargs in
 * 1..FP_MAX_ARGS.  Otherwise as fp_map. */
FP_API fp_status_t fp_starmap(fp_pool_t *pool, const char *task,
                              const fp_array_t *args, size_t nargs, size_t n,
                              void *out, size_t out_size,
                              const fp_call_params_t *params, fp_error_t *err);

FP_API fp_status_t fp_starmap_async(fp_pool_t *pool, const char *task,
                                    const fp_array_t *args, size_t nargs,
                                    size_t n, void *out, size_t out_size,
                                    const fp_call_params_t *params,
                                    fp_future_t **future_p);

/* apply: one call with nargs (0..FP_MAX_ARGS) inputs of any size.  The
 * argument descriptors are copied; the bytes they point at are borrowed.  On
 * success `*result` (may be NULL to drop it) receives a buffer allocated with
 * malloc() that the caller frees with free(); {NULL, 0} if the task produced
 * none. */
FP_API fp_status_t fp_apply(fp_pool_t *pool, const char *task,
                            const fp_cbuf_t *args, size_t nargs,
                            fp_buf_t *result, fp_error_t *err);

/* apply without blocking; the result is read with fp_future_result(). */
FP_API fp_status_t fp_apply_async(fp_pool_t *pool, const char *task,
                                  const fp_cbuf_t *args, size_t nargs,
                                  const fp_call_params_t *params,
                                  fp_future_t **future_p);

/* ------------------------------------------------------------------------ */
/* Lazy iteration: imap and imap_unordered                                    */
/* ------------------------------------------------------------------------ */

typedef struct fp_iter fp_iter_t;

/*
 * imap: results one by one in input order; imap_unordered: in the order they
 * complete.  Work is submitted lazily: a bounded window runs ahead of the
 * consumer, so memory stays bounded however large n is and however slowly
 * results are taken.  The window holds chunks submitted and not yet fully
 * taken (running, done, or waiting for an earlier chunk in imap): at most
 * 4 chunks per executor (at least 2), and at most params->window_bytes of
 * results (default 32 MiB), but always at least one chunk.  With automatic
 * chunks (at most 4096 elements each) that is at most 4 x executors x 4096
 * elements and, when out_size > 0, at most max(1, window_bytes / out_size).
 * The first automatic chunks hold one element, so the first result comes
 * after about one task duration.  Every element has its own
 * status: a failing element does not stop the others.  params->callback and
 * error_callback are not used by iterators.
 */
FP_API fp_status_t fp_imap(fp_pool_t *pool, const char *task, const void *in,
                           size_t in_size, size_t n, size_t out_size,
                           const fp_call_params_t *params, fp_iter_t **iter_p);

FP_API fp_status_t fp_imap_unordered(fp_pool_t *pool, const char *task,
                                     const void *in, size_t in_size, size_t n,
                                     size_t out_size,
                                     const fp_call_params_t *params,
                                     fp_iter_t **iter_p);

/*
 * Take the next result: copies it into `out` (out_size bytes; may be NULL
 * when out_size is 0) and its input index into `*index` (may be NULL).
 * Returns FP_OK; the element's task error (index set, `err` filled); FP_END
 * when every result has been taken; FP_ERR_TIMEOUT if none arrived within
 * `timeout` seconds (0: just look; < 0, NaN, INFINITY or >= 1e9: forever;
 * see fp_future_wait).  One consumer thread at a time.
 */
FP_API fp_status_t fp_iter_next(fp_iter_t *iter, void *out, size_t *index,
                                double timeout, fp_error_t *err);

/* Stop the iteration (chunks not started are skipped), wait for chunks in
 * flight, free everything. */
FP_API void fp_iter_destroy(fp_iter_t *iter);

/* ------------------------------------------------------------------------ */
/* Nested fork-join inside a task                                             */
/* ------------------------------------------------------------------------ */

/* A job runs on whichever executor takes it; `task` is that executor's. */
typedef void (*fp_job_fn_t)(fp_task_t *task, void *arg);

/* Storage for one spawned job, normally on the spawner's stack.  Its fields
 * are private to the library. */
typedef struct fp_frame {
    void *fp__private[4];
} fp_frame_t;

/* Push job fn(arg) on this executor's deque, where idle executors may steal
 * it.  `frame` and `arg` must stay valid until fp_sync(frame). */
FP_API void fp_spawn(fp_task_t *task, fp_frame_t *frame, fp_job_fn_t fn,
                     void *arg);

/* Wait for the job spawned with `frame`: run it here if nobody stole it,
 * otherwise run other work until the thief finishes it.  Frames are synced
 * in the reverse order of their spawns (last spawned, first synced), and
 * every spawn is synced before the task or job that spawned it returns. */
FP_API void fp_sync(fp_task_t *task, fp_frame_t *frame);

/* Run fn(arg) as a root job on the pool's executors and wait for it (and
 * everything it spawned) to finish.  Local to this process: `fn` is a
 * pointer, so this is for compute kernels inside one node, not for calls
 * that may travel (use registered tasks for those).  FP_ERR_STATE if called
 * from inside a task (spawn instead). */
FP_API fp_status_t fp_pool_run(fp_pool_t *pool, fp_job_fn_t fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
