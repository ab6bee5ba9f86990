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

/* The rules, written once: CONTAINS and INSERT are the nullifier-set calls, so the proven
 * entry (prove_block) checks exactly what re-execution's (apply_block) does while logging the
 * host's answers. */
#define CHECK_AND_APPLY(NAME, CONTAINS, INSERT)                                               \
static uint64_t NAME(const struct tx *tx) {                                                   \
    int wants_inputs = tx->kind == KIND_TRANSFER || tx->kind == KIND_WITHDRAW;                \
    if (tx->kind > KIND_WITHDRAW) return BAD_SHAPE;                                           \
    if (wants_inputs && tx->n_nf == 0) return BAD_SHAPE;                                      \
    if (!wants_inputs && tx->n_nf != 0) return BAD_SHAPE;                                     \
    if (tx->kind != KIND_WITHDRAW && tx->n_cm == 0) return BAD_SHAPE;                         \
                                                                                              \
    /* Every check before any effect: a rejected transaction changes nothing. */             \
    for (int i = 0; i < tx->n_nf; i++) {                                                      \
        for (int j = 0; j < i; j++)                                                           \
            if (eq32(tx->nf[i], tx->nf[j])) return NULLIFIER_REPEATED_IN_TX;                  \
        uint64_t seen = CONTAINS(tx->nf[i]);                                                  \
        if (seen == 1) return NULLIFIER_SPENT;                                                \
        if (seen == 2) return NULLIFIER_REPEATED_IN_BLOCK;                                    \
    }                                                                                         \
    uint64_t pool = state.pool_value;                                                         \
    if (tx->kind == KIND_DEPOSIT) {                                                           \
        if (pool + tx->value < pool) return POOL_OVERFLOW;                                    \
        pool += tx->value;                                                                    \
    } else {                                                                                  \
        /* transfer: value is the fee, paid out of the pool; withdraw: value leaves the pool */ \
        if (tx->value > pool) return POOL_INSUFFICIENT;                                       \
        pool -= tx->value;                                                                    \
    }                                                                                         \
    if (state.leaf_count + tx->n_cm > ((uint64_t)1 << DEPTH)) return TREE_FULL;               \
                                                                                              \
    for (int i = 0; i < tx->n_nf; i++) {                                                      \
        INSERT(tx->nf[i]);                                                                    \
        hash_pair(state.nf_root, tx->nf[i], state.nf_root);                                   \
    }                                                                                         \
    for (int i = 0; i < tx->n_cm; i++) tree_append(tx->cm[i]);                                \
    state.pool_value = pool;                                                                  \
    return OK;                                                                                \
}

CHECK_AND_APPLY(check_and_apply, nf_contains, nf_insert)


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

/* Blake2b-256 of the input, so tests can check this implementation against the host's. The
 * input arrives at buf (the stack's low end: a proof's IO region, the only memory its host
 * rows may write), is copied out as prove_block's is, and the digest goes back to buf. */
uint64_t hash_input(uint64_t len, uint8_t *buf) {
    static uint8_t data[4096];
    if (len > sizeof data) return 1;
    if (input_read(buf, 0, len) != len) return 1;
    memcpy(data, buf, len);
    blake2b_256(data, len, buf);
    return 0;
}

/* ---- the proven entry: apply_block with its inputs bound to public outputs ----
 *
 * A proof of apply_block would leave the host's answers unchecked: the loaded state, the
 * input and the nullifier answers are whatever the prover's host said. prove_block runs the
 * same rules (CHECK_AND_APPLY) and makes each of them part of what it outputs, so a verifier
 * that knows the pre-state root, the header's payload hash and the nullifier set can check
 * all three without the payload:
 *   out[0..32]   the root of the state state_load gave (computed here, as at the end);
 *   out[32..64]  Blake2b-256 of the input, which is the payload itself in its codec format
 *                (parsed here, so the digest is the header's payload hash);
 *   out[64..96]  Blake2b-256 of the host-call log, one record per call in call order:
 *                1 ++ nf ++ le64(answer) (nf_contains), 2 ++ nf (nf_insert),
 *                3 ++ le64(code) (tx_result);
 *   out[96..128] the post-state root (the one state_store gets).
 * It returns the number of transactions, or UINT64_MAX (writing nothing) if the payload is
 * not a canonical encoding within the limits. io_region is the proof's IO region (pcvm's
 * mem::IO_BYTES at the stack's low end), the only memory the host may write. */

struct b2_stream {
    uint64_t h[8];
    uint64_t counter;
    uint64_t fill;
    uint8_t buf[128];
};

static void b2_init(struct b2_stream *s) {
    for (int i = 0; i < 8; i++) s->h[i] = blake2b_iv[i];
    s->h[0] ^= 0x01010000ULL ^ 32;
    s->counter = 0;
    s->fill = 0;
}

/* A full buffer is compressed only when more bytes follow: Blake2b's last block is flagged. */
static void b2_update(struct b2_stream *s, const uint8_t *in, uint64_t len) {
    for (uint64_t i = 0; i < len; i++) {
        if (s->fill == 128) {
            s->counter += 128;
            blake2b_compress(s->h, s->buf, s->counter, 0);
            s->fill = 0;
        }
        s->buf[s->fill++] = in[i];
    }
}

static void b2_final(struct b2_stream *s, uint8_t out[32]) {
    s->counter += s->fill;
    for (uint64_t i = s->fill; i < 128; i++) s->buf[i] = 0;
    blake2b_compress(s->h, s->buf, s->counter, 1);
    for (int i = 0; i < 4; i++) store64(out + 8 * i, s->h[i]);
}

/* zeros[] as constants, for prove_block: each row is Blake2b-256 of the row above twice
 * (row 0 is zeros), which tests check against compute_zeros. Copying it costs a proof ~1k
 * rows, computing it 32 compressions (~160k rows). apply_block keeps computing it, so its
 * gas does not change. */
static const uint8_t zeros_const[DEPTH + 1][32] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* 0 */
    {0x0e, 0xb9, 0x23, 0xb0, 0xcb, 0xd2, 0x4d, 0xf5, 0x44, 0x01, 0xd9, 0x98, 0x53, 0x1f, 0xee, 0xad, 0x35, 0xa4, 0x7a, 0x99, 0xf4, 0xde, 0xed, 0x20, 0x5d, 0xe4, 0xaf, 0x81, 0x12, 0x0f, 0x97, 0x61}, /* 1 */
    {0x85, 0xc0, 0x9a, 0xf9, 0x29, 0x49, 0x2a, 0x87, 0x1e, 0x4f, 0xae, 0x32, 0xd9, 0xd5, 0xc3, 0x6e, 0x35, 0x24, 0x71, 0xcd, 0x65, 0x9b, 0xcd, 0xb6, 0x1d, 0xe0, 0x8f, 0x17, 0x22, 0xac, 0xc3, 0xb1}, /* 2 */
    {0xb2, 0x2d, 0xf1, 0xa1, 0x26, 0xb5, 0xba, 0x4e, 0x33, 0xc1, 0x6f, 0xd6, 0x15, 0x75, 0x07, 0x61, 0x0e, 0x55, 0xff, 0xce, 0x20, 0xda, 0xe7, 0xac, 0x44, 0xca, 0xe1, 0x68, 0xa4, 0x63, 0x61, 0x2a}, /* 3 */
    {0x20, 0x91, 0x55, 0xa2, 0x76, 0xca, 0x3c, 0x24, 0x17, 0xe3, 0x87, 0x69, 0x71, 0xdd, 0x58, 0x7d, 0xd6, 0x4e, 0xd9, 0xfc, 0xb8, 0xef, 0x1f, 0xd6, 0xe7, 0x58, 0x9e, 0xf4, 0x25, 0x5c, 0x96, 0x7f}, /* 4 */
    {0x6f, 0x78, 0x89, 0xdd, 0xd7, 0x23, 0xce, 0x61, 0x31, 0xff, 0x10, 0x5f, 0x41, 0x67, 0x26, 0x11, 0x8e, 0x1c, 0xf7, 0x71, 0xb8, 0x12, 0x65, 0x25, 0x3b, 0x5c, 0x59, 0xaa, 0x6f, 0x87, 0xc2, 0x4c}, /* 5 */
    {0x66, 0x59, 0xa5, 0x71, 0x6a, 0xcb, 0xaa, 0xa3, 0x6b, 0x9f, 0x81, 0x15, 0x7f, 0x96, 0x87, 0xe0, 0xce, 0x9e, 0x98, 0x51, 0x21, 0x81, 0x64, 0x90, 0x04, 0x43, 0xde, 0x72, 0x87, 0xf8, 0x5f, 0xad}, /* 6 */
    {0x0f, 0x6e, 0x4e, 0x76, 0x8a, 0x8f, 0xec, 0xbf, 0xd2, 0x86, 0x71, 0x2c, 0xa7, 0xc4, 0xde, 0x28, 0x30, 0x82, 0x44, 0x8c, 0xcc, 0xbb, 0x71, 0xdb, 0x1d, 0x47, 0xe9, 0x3f, 0x53, 0x27, 0x67, 0x7e}, /* 7 */
    {0x66, 0xc4, 0x27, 0x0c, 0x62, 0x5b, 0x9e, 0x96, 0xb9, 0x34, 0xb3, 0xf5, 0x6d, 0x93, 0x01, 0xc4, 0x4c, 0x82, 0x3d, 0x08, 0xb3, 0x42, 0xb2, 0xcd, 0x95, 0xee, 0x24, 0x51, 0x93, 0x97, 0xc1, 0x4a}, /* 8 */
    {0x3d, 0xa3, 0x59, 0x61, 0x17, 0xe1, 0x6f, 0xfe, 0x60, 0x91, 0xc1, 0x77, 0x36, 0x59, 0x0a, 0xc2, 0x0a, 0x3c, 0xa9, 0xdc, 0xfc, 0xd2, 0x4e, 0xa5, 0xee, 0xce, 0x12, 0xd5, 0x12, 0x06, 0xf3, 0x8e}, /* 9 */
    {0xfe, 0x4e, 0xde, 0x8d, 0x20, 0xb3, 0xef, 0x44, 0x98, 0x3b, 0x3d, 0x70, 0x52, 0x9c, 0xca, 0x05, 0x20, 0x65, 0xf3, 0x0c, 0xf1, 0x55, 0xda, 0x98, 0xf3, 0x30, 0x96, 0xf6, 0x1e, 0x6f, 0x62, 0x7b}, /* 10 */
    {0xc7, 0x7f, 0x5d, 0x52, 0xcc, 0xc5, 0x12, 0xb1, 0x86, 0xab, 0x85, 0x33, 0xcf, 0x2d, 0x81, 0x29, 0xdd, 0x92, 0x7e, 0x78, 0xd0, 0x13, 0xee, 0x8a, 0x1b, 0x3a, 0x84, 0x2e, 0xe9, 0xca, 0x5e, 0xe1}, /* 11 */
    {0x67, 0x4a, 0x4a, 0x9a, 0x64, 0x83, 0x0b, 0x69, 0xd8, 0x45, 0x41, 0xc4, 0x6e, 0x50, 0xde, 0x10, 0x90, 0xb8, 0xd3, 0x49, 0x8b, 0x4b, 0x65, 0x82, 0x06, 0x03, 0xd0, 0xb9, 0x33, 0xf9, 0xb0, 0x1f}, /* 12 */
    {0x4c, 0x3e, 0x98, 0xbc, 0xae, 0x30, 0x5b, 0xf7, 0x3e, 0x48, 0x61, 0xa6, 0x70, 0x7f, 0x6f, 0x07, 0x4a, 0xe3, 0xe6, 0xc9, 0xf7, 0xde, 0x8d, 0xb2, 0x83, 0x2a, 0xce, 0x43, 0x86, 0xf3, 0x5b, 0x33}, /* 13 */
    {0x76, 0xe1, 0x9e, 0x69, 0x2d, 0x91, 0xbb, 0x85, 0x22, 0xcc, 0x5a, 0x03, 0xaa, 0x6b, 0xa3, 0xee, 0x2d, 0x8d, 0xa5, 0x1c, 0x0e, 0x72, 0x86, 0xed, 0x78, 0x5d, 0xfc, 0xdf, 0xc2, 0x13, 0xed, 0x45}, /* 14 */
    {0xa7, 0x6a, 0xe9, 0xfa, 0x1e, 0x56, 0x38, 0x2a, 0xc7, 0x56, 0xda, 0xdd, 0x96, 0x34, 0x93, 0x52, 0x3b, 0x8b, 0x41, 0x12, 0x0f, 0xc1, 0xf9, 0x87, 0xb6, 0x39, 0xf7, 0x0c, 0x56, 0x58, 0xa7, 0x2a}, /* 15 */
    {0xb7, 0x66, 0x0d, 0xf2, 0x1e, 0x8a, 0x12, 0xda, 0x44, 0x85, 0xfa, 0xab, 0x8d, 0x13, 0x76, 0x58, 0x85, 0xf0, 0xff, 0xe5, 0x0d, 0x08, 0x31, 0x38, 0xf8, 0x2c, 0x51, 0x7e, 0x1d, 0x65, 0x6c, 0xfe}, /* 16 */
    {0x6b, 0x01, 0x4a, 0x0c, 0xa5, 0xd1, 0x79, 0xa1, 0x0d, 0xfa, 0xbd, 0xfa, 0x33, 0xe9, 0x44, 0x04, 0x0d, 0x7b, 0xb5, 0x28, 0x80, 0xea, 0x83, 0xb7, 0xd8, 0xa3, 0x18, 0x5d, 0xae, 0xa4, 0x48, 0x54}, /* 17 */
    {0x3c, 0xe6, 0x80, 0xd5, 0xce, 0x53, 0x8f, 0x37, 0x77, 0xa7, 0x84, 0x92, 0xa8, 0xbd, 0xfc, 0xf5, 0x50, 0xa9, 0xf2, 0x39, 0x0c, 0xa4, 0xbb, 0x9e, 0x49, 0x17, 0xd7, 0xbd, 0x67, 0x54, 0x2b, 0x65}, /* 18 */
    {0x3c, 0x2a, 0x1e, 0xce, 0x2d, 0xe8, 0x4a, 0xed, 0x35, 0x55, 0x18, 0x77, 0xd1, 0x6d, 0x68, 0x5c, 0xbb, 0x1c, 0x30, 0x93, 0xb1, 0xbb, 0xe4, 0x52, 0x0b, 0xe7, 0xfa, 0x6a, 0xc2, 0x95, 0x5b, 0x23}, /* 19 */
    {0x00, 0xde, 0x18, 0x21, 0x21, 0x25, 0xac, 0x61, 0x54, 0x32, 0x13, 0x4d, 0x5c, 0x64, 0x25, 0xc7, 0xfa, 0xdb, 0x22, 0x4d, 0xfa, 0x34, 0x50, 0x56, 0x97, 0x88, 0xf8, 0xa0, 0x5c, 0xf2, 0xf3, 0xba}, /* 20 */
    {0x4d, 0x79, 0x4b, 0x34, 0xcc, 0x2e, 0xb2, 0x33, 0xc1, 0x11, 0xe1, 0x2a, 0xc5, 0xbc, 0x7d, 0x7b, 0x29, 0x00, 0x37, 0x73, 0x54, 0xc8, 0xfe, 0xf9, 0x9d, 0x74, 0x25, 0x8b, 0xf5, 0x6e, 0x3b, 0xdc}, /* 21 */
    {0xf8, 0x16, 0x65, 0x79, 0xc9, 0x96, 0x07, 0x17, 0x70, 0xd2, 0xe4, 0x23, 0x0f, 0xee, 0x7c, 0xfc, 0x1d, 0x47, 0x28, 0xe4, 0x3a, 0x78, 0x96, 0xe4, 0xd3, 0x19, 0x36, 0x09, 0xd2, 0x05, 0x27, 0x7c}, /* 22 */
    {0x66, 0x21, 0x1e, 0x0b, 0x26, 0xea, 0x34, 0xf0, 0xc7, 0xa9, 0xff, 0xb1, 0x5d, 0x26, 0xce, 0xe9, 0xa0, 0xf7, 0x1d, 0xcb, 0x04, 0xa6, 0xe6, 0xaf, 0x91, 0x3a, 0x48, 0x9a, 0x59, 0x5f, 0x69, 0x15}, /* 23 */
    {0xe8, 0x74, 0xd4, 0x8f, 0xea, 0x69, 0x03, 0xed, 0x16, 0x2c, 0x10, 0x10, 0x71, 0x9f, 0xec, 0xf5, 0x1d, 0x6e, 0xc6, 0xe1, 0x51, 0x26, 0xa3, 0x5e, 0x83, 0x7d, 0x84, 0x0b, 0x20, 0xb5, 0x50, 0x2e}, /* 24 */
    {0x13, 0xca, 0x1f, 0x6c, 0x33, 0xea, 0x99, 0xae, 0xf0, 0xb6, 0xc2, 0x6f, 0xd2, 0x73, 0x90, 0x7b, 0x67, 0x03, 0xf6, 0x80, 0xa4, 0x8f, 0xce, 0xaa, 0xa6, 0xff, 0x4a, 0xe4, 0xe6, 0xce, 0xfc, 0x32}, /* 25 */
    {0xfd, 0x18, 0x9a, 0x51, 0x1c, 0x89, 0xd1, 0xcd, 0xe1, 0x8c, 0xe6, 0x0d, 0x61, 0x76, 0xee, 0x14, 0x58, 0x79, 0xd2, 0x0e, 0xae, 0x66, 0x44, 0x33, 0x48, 0x3d, 0x0b, 0xe4, 0x56, 0x36, 0x0e, 0xe3}, /* 26 */
    {0xd9, 0x5a, 0x04, 0xea, 0x25, 0x3c, 0x5e, 0xa9, 0x95, 0x95, 0x8c, 0x10, 0x9b, 0x7a, 0x49, 0xa3, 0x00, 0x2b, 0xf4, 0xb4, 0x97, 0x60, 0x18, 0xb2, 0x3f, 0x36, 0x11, 0x63, 0x52, 0xc4, 0xa7, 0xee}, /* 27 */
    {0x57, 0xd8, 0xcc, 0xbe, 0xa6, 0x36, 0xfc, 0x02, 0x61, 0xc6, 0xf8, 0x3e, 0xa4, 0x0b, 0xbd, 0x40, 0x07, 0xc7, 0x33, 0xf7, 0xc6, 0x13, 0x48, 0x1d, 0xf5, 0x51, 0x94, 0x0b, 0x8c, 0xff, 0xb0, 0xc7}, /* 28 */
    {0xd6, 0x21, 0x06, 0x7c, 0x5d, 0x9f, 0xa1, 0xc8, 0x75, 0x50, 0x87, 0x21, 0xb0, 0xd7, 0x06, 0xe8, 0x1c, 0x87, 0x42, 0xe2, 0x0f, 0x90, 0x81, 0xb8, 0x4a, 0x16, 0xf8, 0x0e, 0xa1, 0x36, 0xbc, 0xa3}, /* 29 */
    {0x2c, 0x6a, 0x4f, 0x1c, 0xce, 0x47, 0x25, 0xb4, 0xd5, 0xa0, 0x32, 0x1d, 0x34, 0x9b, 0xfd, 0xeb, 0xda, 0x2c, 0x0f, 0xa2, 0xb7, 0x66, 0x63, 0x5b, 0x21, 0xa5, 0x4d, 0xe3, 0x79, 0x3d, 0x6a, 0xa4}, /* 30 */
    {0x24, 0xd5, 0xc8, 0x4f, 0xd1, 0xc4, 0x36, 0xce, 0x9d, 0x14, 0x15, 0x20, 0x01, 0x5d, 0x8a, 0x50, 0xb6, 0x5b, 0x51, 0x5b, 0x26, 0x8d, 0x8d, 0xc9, 0x26, 0xce, 0xd4, 0xe3, 0x2b, 0x80, 0x40, 0x3b}, /* 31 */
    {0x44, 0x15, 0x08, 0xbf, 0xe8, 0xc5, 0xba, 0x1b, 0xf1, 0xc2, 0xc0, 0xf8, 0xaf, 0x3e, 0x42, 0x43, 0xa6, 0x6c, 0xb6, 0xa9, 0xc7, 0x69, 0x88, 0xe7, 0x6e, 0xe6, 0x2b, 0x19, 0x7b, 0xa7, 0x36, 0x9a}, /* 32 */
};

static struct b2_stream input_digest, log_digest;
static uint64_t input_offset;
/* The IO region (io): the only memory a proof lets the host write. Every host call that
 * writes targets it, and what is needed is copied out right after the call. */
static uint8_t *io;

static void state_root(uint8_t root[32]) {
    uint8_t buf[80];
    tree_root(buf);
    memcpy(buf + 32, state.nf_root, 32);
    store64(buf + 64, state.leaf_count);
    store64(buf + 72, state.pool_value);
    blake2b_256(buf, 80, root);
}

/* Exactly len more input bytes into dst, hashed; 0 on success. */
static int take(void *dst, uint64_t len) {
    if (input_read(io, input_offset, len) != len) return 1;
    memcpy(dst, io, len);
    b2_update(&input_digest, dst, len);
    input_offset += len;
    return 0;
}

/* GP's natural in its one- and two-byte canonical forms (below 2^14), as the codec writes the
 * payload's lengths; anything else is refused. */
/* Hides x's provenance from the optimiser: on a value it knows is a byte, clang turns bound
 * checks into sign tests (load_i8, branch_less_signed), outside the proven subset. */
static inline uint64_t opaque(uint64_t x) {
    __asm__("" : "+r"(x));
    return x;
}

static int take_natural(uint64_t *v) {
    uint8_t b[2];
    if (take(b, 1)) return 1;
    uint64_t lo = opaque(b[0]);
    if (lo < 0x80) {
        *v = lo;
        return 0;
    }
    if (lo >= 0xc0 || take(b + 1, 1)) return 1;
    uint64_t x = ((lo & 0x3f) << 8) | opaque(b[1]);
    if (x < 0x80) return 1;
    *v = x;
    return 0;
}

/* One transaction in the payload's codec format (exec-reexec's tx.rs) into tx_buf. */
static int take_tx(void) {
    uint8_t word[8], who[32], t;
    uint64_t k = 0, m = 0;
    if (take(&t, 1)) return 1;
    uint64_t tag = opaque(t);
    if (tag > KIND_WITHDRAW) return 1;
    if (tag != KIND_DEPOSIT) {
        if (take_natural(&k) || k > MAX_NULLIFIERS || take(tx_buf.nf, 32 * k)) return 1;
    }
    if (take_natural(&m) || m > MAX_COMMITMENTS || take(tx_buf.cm, 32 * m)) return 1;
    if (take(word, 8)) return 1;
    if (tag != KIND_TRANSFER && take(who, 32)) return 1;
    tx_buf.kind = (uint8_t)tag;
    tx_buf.n_nf = (uint8_t)k;
    tx_buf.n_cm = (uint8_t)m;
    tx_buf.value = load64(word);
    return 0;
}

static void log_record(uint8_t tag, const uint8_t *nf, const uint64_t *word) {
    uint8_t rec[8];
    b2_update(&log_digest, &tag, 1);
    if (nf) b2_update(&log_digest, nf, 32);
    if (word) {
        store64(rec, *word);
        b2_update(&log_digest, rec, 8);
    }
}

static uint64_t logged_contains(const uint8_t *nf) {
    uint64_t answer = nf_contains(nf);
    log_record(1, nf, &answer);
    return answer;
}

static void logged_insert(const uint8_t *nf) {
    nf_insert(nf);
    log_record(2, nf, 0);
}

CHECK_AND_APPLY(check_and_apply_logged, logged_contains, logged_insert)

uint64_t prove_block(uint8_t *out, uint8_t *io_region) {
    uint8_t pre[32];
    io = io_region;
    memcpy(zeros, zeros_const, sizeof zeros);
    state_load((struct pool_state *)io);
    memcpy(&state, io, sizeof state);
    state_root(pre);
    b2_init(&input_digest);
    b2_init(&log_digest);
    input_offset = 0;
    uint64_t n;
    if (take_natural(&n)) return UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        if (take_tx()) return UINT64_MAX;
        uint64_t code = check_and_apply_logged(&tx_buf);
        tx_result(code);
        log_record(3, 0, &code);
    }
    if (input_read(io, input_offset, 1) != 0) return UINT64_MAX; /* trailing bytes */
    uint8_t post[32];
    state_root(post);
    state_store(&state, post);
    memcpy(out, pre, 32);
    b2_final(&input_digest, out + 32);
    b2_final(&log_digest, out + 64);
    memcpy(out + 96, post, 32);
    return n;
}

PVM_EXPORT(apply_block, 0, 1)
PVM_EXPORT(hash_chain, 1, 1)
PVM_EXPORT(hash_input, 2, 1)
PVM_EXPORT(prove_block, 2, 1)
