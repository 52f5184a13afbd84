#include "uts_tree.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int uts_sha_init(uts_sha_t *sha)
{
    sha->md = EVP_MD_fetch(NULL, "SHA1", NULL);
    sha->ctx = EVP_MD_CTX_new();
    if (sha->md == NULL || sha->ctx == NULL) {
        uts_sha_fini(sha);
        return -1;
    }
    return 0;
}

void uts_sha_fini(uts_sha_t *sha)
{
    EVP_MD_CTX_free(sha->ctx);
    EVP_MD_free(sha->md);
    sha->ctx = NULL;
    sha->md = NULL;
}

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static void sha1(uts_sha_t *sha, const void *data, size_t size,
                 unsigned char out[20])
{
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(sha->ctx, sha->md, NULL) != 1 ||
        EVP_DigestUpdate(sha->ctx, data, size) != 1 ||
        EVP_DigestFinal_ex(sha->ctx, out, &len) != 1 || len != 20) {
        fprintf(stderr, "uts: SHA-1 failed\n");
        abort();
    }
}

void uts_root(uts_sha_t *sha, int seed, uts_state_t *root)
{
    unsigned char in[20] = {0};
    put_be32(in + 16, (uint32_t)seed);
    sha1(sha, in, sizeof in, root->s);
}

void uts_child(uts_sha_t *sha, const uts_state_t *parent, int i,
               uts_state_t *child)
{
    unsigned char in[24];
    for (int k = 0; k < 20; k++) {
        in[k] = parent->s[k];
    }
    put_be32(in + 20, (uint32_t)i);
    sha1(sha, in, sizeof in, child->s);
}

/* The node's uniform random number on [0, 1). */
static double uts_prob(const uts_state_t *state)
{
    const uint32_t r = ((uint32_t)state->s[16] << 24) | ((uint32_t)state->s[17] << 16) |
                       ((uint32_t)state->s[18] << 8) | (uint32_t)state->s[19];
    return (double)(r & 0x7fffffffu) / 2147483648.0;
}

static double geo_branching(const uts_params_t *p, int depth)
{
    const double d = (double)depth;
    const double mx = (double)p->gen_mx;
    if (depth == 0) {
        return p->b0;
    }
    switch (p->shape) {
    case UTS_EXPDEC:
        return p->b0 * pow(d, -log(p->b0) / log(mx));
    case UTS_CYCLIC:
        if (depth > 5 * p->gen_mx) {
            return 0.0;
        }
        return pow(p->b0, sin(2.0 * 3.141592653589793 * d / mx));
    case UTS_FIXED:
        return depth < p->gen_mx ? p->b0 : 0.0;
    case UTS_LINEAR:
    default:
        return p->b0 * (1.0 - d / mx);
    }
}

int uts_num_children(const uts_params_t *p, const uts_state_t *state, int height)
{
    int n;
    if (p->type == UTS_BIN) {
        if (height == 0) {
            return (int)floor(p->b0); /* the root is exempt from the cap */
        }
        n = uts_prob(state) < p->q ? p->m : 0;
    } else {
        const double prob = 1.0 / (1.0 + geo_branching(p, height));
        n = (int)floor(log(1.0 - uts_prob(state)) / log(1.0 - prob));
    }
    return n > UTS_MAX_CHILDREN ? UTS_MAX_CHILDREN : n;
}

static uint64_t visit_seq(const uts_params_t *p, uts_sha_t *sha,
                          const uts_state_t *state, int height)
{
    uint64_t nodes = 1;
    const int n = uts_num_children(p, state, height);
    for (int i = 0; i < n; i++) {
        uts_state_t child;
        uts_child(sha, state, i, &child);
        nodes += visit_seq(p, sha, &child, height + 1);
    }
    return nodes;
}

uint64_t uts_count_seq(const uts_params_t *p, uts_sha_t *sha)
{
    uts_state_t root;
    uts_root(sha, p->seed, &root);
    return visit_seq(p, sha, &root, 0);
}
