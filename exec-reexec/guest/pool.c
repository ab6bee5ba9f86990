/* The exec-reexec workload: a shielded-pool-like state transition, run inside PolkaVM.
 *
 * The host (the plugin) keeps the state between blocks and lends it to this program through
 * host calls; every rule is checked here, so the gas a block costs is the gas of checking it.
 * All the hashing (Blake2b-256) happens in the guest, so the gas reflects real work and is the
 * same on the interpreter and the recompiler.
 *
 * State (struct pool_state, loaded with state_load, written back with state_store):
 *   - leaf_count, frontier[32]: an append-only Merkle tree of note commitments, depth 32, kept
 *     as its incremental frontier (the left sibling waiting at each level, as in Ethereum's
 *     deposit contract). Appending is O(1) amortised hashes and the root is 32 hashes, and the
 *     validator never stores the leaves: a note costs the consensus state nothing.
 *   - nf_root: the nullifier set as a hash chain, nf_root' = H(nf_root ++ nf) per spent
 *     nullifier, in block order. Membership is answered by the host's set (nf_contains), which
 *     every re-executing validator holds anyway; the chain commits to exactly that set and its
 *     order at one hash per nullifier. A sparse Merkle tree would add non-membership proofs
 *     (what light clients and exec-proof need) at 256 hashes per insertion; re-execution does
 *     not need them.
 *   - pool_value: transparent value held by the pool (deposits add, withdrawals and fees take).
 * State root = H(tree_root ++ nf_root ++ le64(leaf_count) ++ le64(pool_value)): the count is
 * in because a tree of zero leaves and a tree of fewer leaves share roots, the value because
 * withdrawals are checked against it.
 *
 * Input (read with input_read, laid out by the plugin's tx module), per transaction:
 *   kind u8, n_nullifiers u8, n_commitments u8, 0 u8, value le64, nullifiers, commitments.
 */
#include <stdint.h>
#include "pvm_abi.h"

#define DEPTH 32
#define MAX_NULLIFIERS 16
#define MAX_COMMITMENTS 16

enum kind { KIND_TRANSFER = 0, KIND_DEPOSIT = 1, KIND_WITHDRAW = 2 };

/* Per-transaction results; the plugin's receipt carries them. */
enum result {
    OK = 0,
    NULLIFIER_SPENT = 1,          /* spent in an earlier block */
    NULLIFIER_REPEATED_IN_BLOCK = 2, /* spent by an earlier transaction of this block */
    NULLIFIER_REPEATED_IN_TX = 3,
    POOL_INSUFFICIENT = 4,
    POOL_OVERFLOW = 5,
    TREE_FULL = 6,
    BAD_SHAPE = 7,                /* e.g. a transfer without inputs */
};

struct pool_state {
    uint64_t leaf_count;
    uint64_t pool_value;
    uint8_t nf_root[32];
    uint8_t frontier[DEPTH][32];
};

PVM_IMPORT(uint64_t, input_read, 3, 1, void *dst, uint64_t offset, uint64_t len)
PVM_IMPORT(void, state_load, 1, 0, struct pool_state *dst)
PVM_IMPORT(void, state_store, 2, 0, const struct pool_state *src, const uint8_t *root)
PVM_IMPORT(uint64_t, nf_contains, 1, 1, const uint8_t *nf)
PVM_IMPORT(void, nf_insert, 1, 0, const uint8_t *nf)
PVM_IMPORT(void, tx_result, 1, 0, uint64_t code)

/* -fno-builtin -nostdlib: the compiler may still emit calls to these for struct copies. */
void *memcpy(void *dst, const void *src, unsigned long n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, unsigned long n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

/* ---- Blake2b-256 (RFC 7693), unkeyed ---- */

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void store64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#define G(a, b, c, d, x, y)          \
    do {                             \
        v[a] = v[a] + v[b] + (x);    \
        v[d] = rotr64(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];          \
        v[b] = rotr64(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);    \
        v[d] = rotr64(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];          \
        v[b] = rotr64(v[b] ^ v[c], 63); \
    } while (0)

static void blake2b_compress(uint64_t h[8], const uint8_t block[128], uint64_t counter, int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = load64(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= counter; /* inputs here are far below 2^64 bytes: the high counter word stays 0 */
    if (last) v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = blake2b_sigma[r];
        G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

static void blake2b_256(const uint8_t *in, uint64_t len, uint8_t out[32]) {
    uint64_t h[8];
    for (int i = 0; i < 8; i++) h[i] = blake2b_iv[i];
    h[0] ^= 0x01010000ULL ^ 32; /* depth 1, fanout 1, no key, 32-byte digest */
    uint64_t counter = 0;
    while (len > 128) {
        counter += 128;
        blake2b_compress(h, in, counter, 0);
        in += 128;
        len -= 128;
    }
    uint8_t block[128];
    memset(block, 0, sizeof block);
    memcpy(block, in, len);
    counter += len;
    blake2b_compress(h, block, counter, 1);
    for (int i = 0; i < 4; i++) store64(out + 8 * i, h[i]);
}

static void hash_pair(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    uint8_t buf[64];
    memcpy(buf, left, 32);
    memcpy(buf + 32, right, 32);
    blake2b_256(buf, 64, out);
}

static int eq32(const uint8_t *a, const uint8_t *b) {
    uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= a[i] ^ b[i];
    return d == 0;
}

/* ---- the commitment tree ---- */

static struct pool_state state;
static uint8_t zeros[DEPTH + 1][32]; /* zeros[h]: root of an empty subtree of height h */

static void compute_zeros(void) {
    memset(zeros[0], 0, 32);
    for (int h = 0; h < DEPTH; h++) hash_pair(zeros[h], zeros[h], zeros[h + 1]);
}

static void tree_append(const uint8_t leaf[32]) {
    uint8_t node[32];
    memcpy(node, leaf, 32);
    uint64_t size = state.leaf_count + 1;
    for (int h = 0; h < DEPTH; h++) {
        if (size & 1) {
            memcpy(state.frontier[h], node, 32);
            break;
        }
        hash_pair(state.frontier[h], node, node);
        size >>= 1;
    }
    state.leaf_count++;
}

static void tree_root(uint8_t out[32]) {
    uint8_t node[32];
    memcpy(node, zeros[0], 32);
    uint64_t size = state.leaf_count;
    for (int h = 0; h < DEPTH; h++) {
        if (size & 1)
            hash_pair(state.frontier[h], node, node);
        else
            hash_pair(node, zeros[h], node);
        size >>= 1;
    }
    memcpy(out, node, 32);
}

/* ---- transactions ---- */

struct tx {
    uint8_t kind, n_nf, n_cm, pad;
    uint64_t value;
    uint8_t nf[MAX_NULLIFIERS][32];
    uint8_t cm[MAX_COMMITMENTS][32];
};

static uint64_t check_and_apply(const struct tx *tx) {
    int wants_inputs = tx->kind == KIND_TRANSFER || tx->kind == KIND_WITHDRAW;
    if (tx->kind > KIND_WITHDRAW) return BAD_SHAPE;
    if (wants_inputs && tx->n_nf == 0) return BAD_SHAPE;
    if (!wants_inputs && tx->n_nf != 0) return BAD_SHAPE;
    if (tx->kind != KIND_WITHDRAW && tx->n_cm == 0) return BAD_SHAPE;

    /* Every check before any effect: a rejected transaction changes nothing. */
    for (int i = 0; i < tx->n_nf; i++) {
        for (int j = 0; j < i; j++)
            if (eq32(tx->nf[i], tx->nf[j])) return NULLIFIER_REPEATED_IN_TX;
        uint64_t seen = nf_contains(tx->nf[i]);
        if (seen == 1) return NULLIFIER_SPENT;
        if (seen == 2) return NULLIFIER_REPEATED_IN_BLOCK;
    }
    uint64_t pool = state.pool_value;
    if (tx->kind == KIND_DEPOSIT) {
        if (pool + tx->value < pool) return POOL_OVERFLOW;
        pool += tx->value;
    } else {
        /* transfer: value is the fee, paid out of the pool; withdraw: value leaves the pool */
        if (tx->value > pool) return POOL_INSUFFICIENT;
        pool -= tx->value;
    }
    if (state.leaf_count + tx->n_cm > ((uint64_t)1 << DEPTH)) return TREE_FULL;

    for (int i = 0; i < tx->n_nf; i++) {
        nf_insert(tx->nf[i]);
        hash_pair(state.nf_root, tx->nf[i], state.nf_root);
    }
    for (int i = 0; i < tx->n_cm; i++) tree_append(tx->cm[i]);
    state.pool_value = pool;
    return OK;
}

static struct tx tx_buf;

/* Applies the whole input to the state; returns the number of transactions, or
 * UINT64_MAX if the input is malformed (the plugin lays it out, so that is a plugin bug). */
uint64_t apply_block(void) {
    compute_zeros();
    state_load(&state);
    uint64_t offset = 0, n = 0;
    for (;;) {
        uint8_t head[12];
        uint64_t got = input_read(head, offset, 12);
        if (got == 0) break;
        if (got != 12) return UINT64_MAX;
        offset += 12;
        tx_buf.kind = head[0];
        tx_buf.n_nf = head[1];
        tx_buf.n_cm = head[2];
        tx_buf.value = load64(head + 4);
        if (tx_buf.n_nf > MAX_NULLIFIERS || tx_buf.n_cm > MAX_COMMITMENTS) return UINT64_MAX;
        uint64_t len = 32 * (uint64_t)tx_buf.n_nf;
        if (input_read(tx_buf.nf, offset, len) != len) return UINT64_MAX;
        offset += len;
        len = 32 * (uint64_t)tx_buf.n_cm;
        if (input_read(tx_buf.cm, offset, len) != len) return UINT64_MAX;
        offset += len;
        tx_result(check_and_apply(&tx_buf));
        n++;
    }
    uint8_t buf[80], root[32];
    tree_root(buf);
    memcpy(buf + 32, state.nf_root, 32);
    store64(buf + 64, state.leaf_count);
    store64(buf + 72, state.pool_value);
    blake2b_256(buf, 80, root);
    state_store(&state, root);
    return n;
}

/* A compute-heavy loop for the benchmarks: n chained Blake2b-256 over 64 bytes. */
uint64_t hash_chain(uint64_t n) {
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    for (uint64_t i = 0; i < n; i++) blake2b_256(buf, 64, buf);
    return load64(buf);
}

/* Blake2b-256 of guest-memory bytes, so tests can check this implementation against the host's. */
uint64_t hash_input(uint64_t len, uint8_t *out) {
    static uint8_t data[4096];
    if (len > sizeof data) return 1;
    if (input_read(data, 0, len) != len) return 1;
    blake2b_256(data, len, out);
    return 0;
}

PVM_EXPORT(apply_block, 0, 1)
PVM_EXPORT(hash_chain, 1, 1)
PVM_EXPORT(hash_input, 2, 1)
