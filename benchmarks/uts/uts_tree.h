/*
 * Unbalanced Tree Search (UTS): the tree, written from the published
 * description (Olivier et al., "UTS: An Unbalanced Tree Search Benchmark",
 * LCPC 2006) and the semantics of its reference implementation.
 *
 *  - A node's state is a 20-byte SHA-1 digest.  The root's is
 *    SHA-1(16 zero bytes || seed as 4 bytes big-endian); child i's is
 *    SHA-1(parent state || i as 4 bytes big-endian).
 *  - A node's random number is bytes 16..19 of its state, big-endian,
 *    masked to 31 bits; as a probability it is that number / 2^31.
 *  - Binomial trees (-t 0): the root has floor(b0) children; every other
 *    node has m children with probability q, else none.
 *  - Geometric trees (-t 1): a node at depth d has
 *    floor(log(1 - u) / log(1 - p)) children, p = 1 / (1 + b_d), where
 *    b_d = b0 at the root and otherwise follows the shape function (-a):
 *    0 linear b0*(1 - d/gen_mx), 1 exp. decrease b0*d^(-ln b0/ln gen_mx),
 *    2 cyclic b0^sin(2*pi*d/gen_mx) (0 beyond 5*gen_mx), 3 fixed b0 while
 *    d < gen_mx, else 0.
 *  - Any node but a binomial root has at most 100 children.
 */
#ifndef FP_BENCH_UTS_TREE_H
#define FP_BENCH_UTS_TREE_H

#include <stdint.h>

#include <openssl/evp.h>

#define UTS_MAX_CHILDREN 100

enum { UTS_BIN = 0, UTS_GEO = 1 };
enum { UTS_LINEAR = 0, UTS_EXPDEC = 1, UTS_CYCLIC = 2, UTS_FIXED = 3 };

typedef struct uts_params {
    int type;     /* -t: UTS_BIN or UTS_GEO */
    int shape;    /* -a: geometric shape function */
    int gen_mx;   /* -d: geometric depth parameter */
    double b0;    /* -b: root branching factor */
    int seed;     /* -r: root seed */
    int m;        /* -m: binomial children of a non-leaf */
    double q;     /* -q: binomial probability of being a non-leaf */
} uts_params_t;

typedef struct uts_state {
    unsigned char s[20];
} uts_state_t;

/* One SHA-1 context; use one per thread. */
typedef struct uts_sha {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
} uts_sha_t;

/* 0 on success, -1 when OpenSSL has no SHA-1. */
int uts_sha_init(uts_sha_t *sha);
void uts_sha_fini(uts_sha_t *sha);

void uts_root(uts_sha_t *sha, int seed, uts_state_t *root);
void uts_child(uts_sha_t *sha, const uts_state_t *parent, int i,
               uts_state_t *child);

/* Number of children of the node with `state` at depth `height`. */
int uts_num_children(const uts_params_t *p, const uts_state_t *state,
                     int height);

/* Sequential depth-first count of the whole tree's nodes. */
uint64_t uts_count_seq(const uts_params_t *p, uts_sha_t *sha);

#endif
