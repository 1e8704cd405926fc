/* Ponder's CPU kernels (also, at the end: the element-wise steps of a layer, a prefill GEMM over 16-bit weights
 * for AVX2, and one decoding token through every layer). The products: y[M, N] = x[M, K] . W[N, K]^T for a few
 * rows of x (decode, speculative verification, a few batched streams) over weights stored as bf16, fp16, int8
 * (a scale per row) or int4 (groups of `group` inputs with a scale and a zero each).
 *
 * Decode reads every weight once per token, so the speed is the memory bus's: each kernel streams W once
 * for all M rows (each weight row, read in order, is reused from L1 for every row of x), widens it to fp32 in
 * registers and accumulates with FMA in fp32 (int8 and int4 on x86: byte multiply-adds, see INT_DOT; bf16
 * weights times bf16 activations on AVX-512 BF16: vdpbf16ps, see BF16_DOT). Each dot product is summed in the
 * same lane order whatever M is, so a row of a batch gets exactly the value it gets alone (speculative
 * verification relies on it).
 *
 * One source, compiled once per instruction set (the build passes -mavx512f..., -mavx2 -mfma -mf16c, or
 * nothing on aarch64 where NEON is the baseline); OpenMP splits the weight rows over threads, sharing the
 * runtime torch already loaded.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <math.h>

/* Each weight stream is also prefetched this far ahead in software: on a 2-core AMD EPYC (Zen 5) VM the int4
 * decode products of a whole 1.5B model (0.9 GB, read once per token) took 26-37 ms per token with it against
 * 47-69 without (interleaved runs; the hardware prefetcher alone does not keep the bus busy). */
#define PF_DIST 2048
#define PREFETCH(p) __builtin_prefetch((const char *)(p) + PF_DIST, 0, 3)

#if defined(__AVX2__)
#include <immintrin.h>
static inline float hsum256(__m256 a) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    return _mm_cvtss_f32(t);
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#if defined(__AVX512VNNI__) && defined(__AVX512BF16__)
#define ISA_NAME "avx512_bf16"
#elif defined(__AVX512VNNI__)
#define ISA_NAME "avx512_vnni"
#else
#define ISA_NAME "avx512"
#endif
#define VL 16
typedef __m512 vf;
static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_load_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf v_floor(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
/* 2^n for whole n in [-126, 127] (the exponent's bits) */
static inline vf v_pow2i(vf n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}
static inline float v_hmax(vf a) { return _mm512_reduce_max_ps(a); }
static inline vf v_set1(float a) { return _mm512_set1_ps(a); }
static inline float v_sum(vf a) { return _mm512_reduce_add_ps(a); }
static inline vf v_load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
static inline vf v_load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf v_load_i8(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
/* 16 bytes of nibbles -> the 16 low nibbles (inputs 0..15 of a block of 32) and the 16 high (16..31). */
static inline void v_load_nibbles(const uint8_t *p, vf *lo, vf *hi) {
    __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    *lo = _mm512_cvtepi32_ps(_mm512_and_si512(b, _mm512_set1_epi32(15)));
    *hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(b, 4));
}
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#ifdef __AVXVNNI__
#define ISA_NAME "avx2_vnni"
#else
#define ISA_NAME "avx2"
#endif
#define VL 8
typedef __m256 vf;
static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_load_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf v_floor(vf a) { return _mm256_floor_ps(a); }
static inline vf v_pow2i(vf n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
static inline float v_hmax(vf a) {
    __m128 t = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    t = _mm_max_ps(t, _mm_movehl_ps(t, t));
    return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
static inline vf v_set1(float a) { return _mm256_set1_ps(a); }
static inline float v_sum(vf a) { return hsum256(a); }
static inline vf v_load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline vf v_load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline vf v_load_i8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
/* 8 bytes of nibbles -> 8 low nibbles and 8 high ones. */
static inline void v_load_nibbles(const uint8_t *p, vf *lo, vf *hi) {
    __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    *lo = _mm256_cvtepi32_ps(_mm256_and_si256(b, _mm256_set1_epi32(15)));
    *hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(b, 4));
}
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#define ISA_NAME "neon"
#define VL 4
typedef float32x4_t vf;
static inline vf v_zero(void) { return vdupq_n_f32(0.f); }
static inline vf v_load_f32(const float *p) { return vld1q_f32(p); }
static inline vf v_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
static inline vf v_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf v_min(vf a, vf b) { return vminq_f32(a, b); }
static inline vf v_floor(vf a) { return vrndmq_f32(a); }
static inline vf v_pow2i(vf n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23));
}
static inline float v_hmax(vf a) { return vmaxvq_f32(a); }
static inline vf v_set1(float a) { return vdupq_n_f32(a); }
static inline float v_sum(vf a) { return vaddvq_f32(a); }
static inline vf v_load_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline vf v_load_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline uint8x8_t load4(const void *p) { uint32_t t; memcpy(&t, p, 4); return vreinterpret_u8_u32(vdup_n_u32(t)); }
static inline vf v_load_i8(const int8_t *p) {
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_u8(load4(p))))));
}
static inline void v_load_nibbles(const uint8_t *p, vf *lo, vf *hi) {
    uint32x4_t b = vmovl_u16(vget_low_u16(vmovl_u8(load4(p))));
    *lo = vcvtq_f32_u32(vandq_u32(b, vdupq_n_u32(15)));
    *hi = vcvtq_f32_u32(vshrq_n_u32(b, 4));
}
#else
#define ISA_NAME "scalar"
#define VL 1
typedef float vf;
static inline vf v_zero(void) { return 0.f; }
static inline vf v_load_f32(const float *p) { return *p; }
static inline vf v_fma(vf a, vf b, vf c) { return a * b + c; }
static inline vf v_max(vf a, vf b) { return a > b ? a : b; }
static inline vf v_min(vf a, vf b) { return a < b ? a : b; }
static inline vf v_floor(vf a) { return floorf(a); }
static inline vf v_pow2i(vf n) { int32_t u = ((int32_t)n + 127) << 23; float f; memcpy(&f, &u, 4); return f; }
static inline float v_hmax(vf a) { return a; }
static inline vf v_set1(float a) { return a; }
static inline float v_sum(vf a) { return a; }
static inline vf v_load_bf16(const uint16_t *p) { uint32_t u = (uint32_t)*p << 16; float f; memcpy(&f, &u, 4); return f; }
static inline vf v_load_f16(const uint16_t *p);
static inline vf v_load_i8(const int8_t *p) { return (float)*p; }
static inline void v_load_nibbles(const uint8_t *p, vf *lo, vf *hi) { *lo = (float)(*p & 15); *hi = (float)(*p >> 4); }
#endif

enum { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2 };
static inline int64_t dt_size(int dtype) { return dtype == DT_F32 ? 4 : 2; }
enum { W_BF16 = 0, W_F16 = 1, W_I8 = 2 };
/* Integer dot products for int8 and int4 weights (x86): the activations are rounded to int8 per block (128
 * inputs for int8 weights, 32 where K is no multiple of 128; the weights' group for int4), a scale each, and
 * 32 weights times 32 activations become one multiply-add of bytes (VNNI's vpdpbusd, else vpmaddubsw +
 * vpmaddwd) instead of 4-8 widenings and FMAs in fp32: decode of int4 and int8 weights is then bound by
 * memory on AVX2 too, not by arithmetic. */
#if defined(__AVX2__)
#define INT_DOT 1
/* Byte multiply-adds added into acc: VNNI's vpdpbusd accumulates itself; without VNNI the int16 pair sums of
 * vpmaddubsw are widened by vpmaddwd and added (no saturation while the unsigned side is <= 128: int4
 * nibbles, or int8 weights' magnitudes with their signs moved onto x). */
static inline __m256i dot_acc_u8s8(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
/* The int4 kernels' sums within a group: group_acc adds a block's byte products, group_sum gives the int32 sums.
 * Without VNNI vpmaddubsw's int16 pair sums are added in int16 over the blocks of a group (at most 8:
 * 8 x 2 x 15 x 127 < 2^15, exact) and widened once per group: the multiply ports, which bound these products,
 * then do one instruction per block instead of two, and the sums are the same integers. */
#if defined(__AVX512VNNI__) || defined(__AVXVNNI__)
static inline __m256i group_acc(__m256i acc, __m256i u, __m256i s) { return dot_acc_u8s8(acc, u, s); }
static inline __m256i group_sum(__m256i acc) { return acc; }
#else
static inline __m256i group_acc(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi16(acc, _mm256_maddubs_epi16(u, s));
}
static inline __m256i group_sum(__m256i acc) { return _mm256_madd_epi16(acc, _mm256_set1_epi16(1)); }
#endif
/* 16 bytes of nibbles -> 32 bytes: the low nibbles (inputs 0..15) then the high ones (16..31). */
static inline __m256i unpack_nibbles(const uint8_t *p) {
    __m128i b = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), mask), _mm_and_si128(b, mask));
}
#endif

#ifdef INT_DOT
/* x [n] fp32 -> int8 per block of bs with scale max|x| / 127 (n and bs multiples of 32): x * (127 / max)
 * rounded to nearest even, as lrintf rounds, eight lanes at a time (the scalar loop took 0.1 ms of a 0.5 ms
 * product at 4 rows of 8,960). */
static void quantize_blocks(const float *x, int64_t n, int64_t bs, int8_t *q, float *d) {
    const __m256 sign = _mm256_set1_ps(-0.f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < n / bs; b++) {
        const float *xb = x + b * bs;
        __m256 mx = _mm256_setzero_ps();
        for (int64_t j = 0; j < bs; j += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        const float amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
        const float scale = amax / 127.f, inv = amax > 0.f ? 127.f / amax : 0.f;
        const __m256 vi = _mm256_set1_ps(inv);
        d[b] = scale;
        for (int64_t j = 0; j < bs; j += 32) {
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j), vi));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8), vi));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 16), vi));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 24), vi));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            _mm256_storeu_si256((__m256i *)(q + b * bs + j), _mm256_permutevar8x32_epi32(p, order));
        }
    }
}
#endif

/* Rows of x per pass over a weight row (the row is reused from L1 for each) and independent accumulator chains
 * per dot product (one chain would wait on the FMA latency); sized to the ISA's vector registers. */
#if VL == 16
#define MB 4
#define CHAINS 4
#elif VL == 8
#define MB 2
#define CHAINS 2
#else
#define MB 4
#define CHAINS 2
#endif
/* Rows of x per pass of the 16-bit and int8 (fp32 arithmetic) products: four wherever the accumulators fit in
 * registers, so a 4-sequence batch reads each weight vector once and widens it once for four FMAs. */
#define DENSE_MB 4

static inline float bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

static inline uint16_t f32_to_bf16(float f) {  /* round to nearest even, as torch does; NaN stays NaN */
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { float f = ldexpf((float)man, -24); memcpy(&u, &f, 4); u |= sign; }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 112) << 23) | (man << 13);
    float f; memcpy(&f, &u, 4); return f;
}

static uint16_t f32_to_f16(float f) {  /* round to nearest even */
    uint32_t u; memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  /* overflows to infinity */
    if (a < 0x38800000u) {  /* subnormal or zero in fp16 */
        float af; memcpy(&af, &a, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(af * 16777216.0f));
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

#if VL == 1
static inline vf v_load_f16(const uint16_t *p) { return f16_to_f32(*p); }
#endif

static void to_f32(const void *src, int dtype, float *dst, int64_t n) {
    if (dtype == DT_F32) { memcpy(dst, src, (size_t)n * 4); return; }
    const uint16_t *s = (const uint16_t *)src;
    if (dtype == DT_BF16) for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
    else for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
}

static inline void store(void *out, int dtype, int64_t i, float v) {
    if (dtype == DT_F32) ((float *)out)[i] = v;
    else if (dtype == DT_BF16) ((uint16_t *)out)[i] = f32_to_bf16(v);
    else ((uint16_t *)out)[i] = f32_to_f16(v);
}

static inline float w_scalar(const void *w, int wtype, int64_t i) {
    if (wtype == W_BF16) return bf16_to_f32(((const uint16_t *)w)[i]);
    if (wtype == W_F16) return f16_to_f32(((const uint16_t *)w)[i]);
    return (float)((const int8_t *)w)[i];
}

static inline vf w_vec(const void *w, int wtype, int64_t i) {
    if (wtype == W_BF16) return v_load_bf16((const uint16_t *)w + i);
    if (wtype == W_F16) return v_load_f16((const uint16_t *)w + i);
    return v_load_i8((const int8_t *)w + i);
}

/* Dot products of `mb` rows of x (fp32, row stride k) with weight row n over inputs [i0, i1) (multiples of
 * VL * CHAINS), into sums kept per row and chain; dense_finish adds the inputs past the last whole step and
 * reduces. Every split of K into spans gives the same roundings as one span: chain c always takes the vectors
 * c, c + CHAINS, ... in order. The weight row is streamed in order, prefetched ahead (PREFETCH). */
static inline __attribute__((always_inline)) void dense_span(
        const float *x, int mb, const void *w, int wtype, int64_t n, int64_t k, int64_t i0, int64_t i1,
        vf sums[DENSE_MB][CHAINS]) {
    vf acc[DENSE_MB][CHAINS];
    for (int m = 0; m < mb; m++) for (int c = 0; c < CHAINS; c++) acc[m][c] = sums[m][c];
    for (int64_t i = i0; i < i1; i += VL * CHAINS)
        for (int c = 0; c < CHAINS; c++) {
            PREFETCH((const char *)w + (n * k + i + c * VL) * (wtype == W_I8 ? 1 : 2));
            vf wv = w_vec(w, wtype, n * k + i + c * VL);
            for (int m = 0; m < mb; m++) acc[m][c] = v_fma(v_load_f32(x + m * k + i + c * VL), wv, acc[m][c]);
        }
    for (int m = 0; m < mb; m++) for (int c = 0; c < CHAINS; c++) sums[m][c] = acc[m][c];
}

static inline __attribute__((always_inline)) void dense_finish(
        const float *x, int mb, const void *w, int wtype, int64_t n, int64_t k, vf acc[DENSE_MB][CHAINS],
        float out[DENSE_MB]) {
    const int64_t k1 = k - k % VL;
    for (int64_t i = k - k % (VL * CHAINS); i < k1; i += VL) {
        vf wv = w_vec(w, wtype, n * k + i);
        for (int m = 0; m < mb; m++) acc[m][0] = v_fma(v_load_f32(x + m * k + i), wv, acc[m][0]);
    }
    for (int m = 0; m < mb; m++) {
        vf t = acc[m][0];
        for (int c = 1; c < CHAINS; c++) t = t + acc[m][c];
        float s = v_sum(t);
        for (int64_t j = k1; j < k; j++) s += x[m * k + j] * w_scalar(w, wtype, n * k + j);
        out[m] = s;
    }
}

/* A block of rb <= DENSE_RB weight rows from r0 times `mb` rows of x into out[m * DENSE_RB + r]. One weight row
 * at a time over all of K (interleaving several rows measured 25-30% slower on a 467 MB LM head at one row of x);
 * with several rows of x and a K whose rows of x overflow L1, K is taken in spans of DENSE_KC inputs, each span
 * of x reused from L1 by every weight row of the block (the same roundings: dense_span). */
#define DENSE_RB 16
#define DENSE_KC 1024
static inline __attribute__((always_inline)) void block_dense(
        const float *x, int mb, const void *w, int wtype, int64_t r0, int rb, int64_t k, float *out) {
    const int64_t kv = k - k % (VL * CHAINS), span = mb > 1 && kv > 2 * DENSE_KC ? DENSE_KC : kv;
    vf acc[DENSE_RB][DENSE_MB][CHAINS];
    float res[DENSE_MB];
    for (int r = 0; r < rb; r++)
        for (int m = 0; m < DENSE_MB; m++) for (int c = 0; c < CHAINS; c++) acc[r][m][c] = v_zero();
    for (int64_t i0 = 0; i0 < kv; i0 += span) {
        const int64_t i1 = i0 + span < kv ? i0 + span : kv;
        for (int r = 0; r < rb; r++) dense_span(x, mb, w, wtype, r0 + r, k, i0, i1, acc[r]);
    }
    for (int r = 0; r < rb; r++) {
        dense_finish(x, mb, w, wtype, r0 + r, k, acc[r], res);
        for (int m = 0; m < mb; m++) out[m * DENSE_RB + r] = res[m];
    }
}

#if defined(__AVX512BF16__) && VL == 16
#define BF16_DOT 1
/* bf16 row n times `mb` rows of bf16 x: 32 products per vdpbf16ps (each exact in fp32, added a pair at a time
 * to the fp32 lanes), so with several rows the weights' widening and half the multiply-adds are gone and the
 * product stays bound by memory where the fp32 path is bound by arithmetic. */
static inline __attribute__((always_inline)) void row_bf16_dot(
        const uint16_t *x, int mb, const uint16_t *w, int64_t n, int64_t k, float out[MB]) {
    __m512 acc[MB][2];
    for (int m = 0; m < MB; m++) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
    const uint16_t *wr = w + n * k;
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
        PREFETCH(wr + i);
        PREFETCH(wr + i + 32);
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wr + i), w1 = (__m512bh)_mm512_loadu_si512(wr + i + 32);
        for (int m = 0; m < mb; m++) {
            acc[m][0] = _mm512_dpbf16_ps(acc[m][0], (__m512bh)_mm512_loadu_si512(x + m * k + i), w0);
            acc[m][1] = _mm512_dpbf16_ps(acc[m][1], (__m512bh)_mm512_loadu_si512(x + m * k + i + 32), w1);
        }
    }
    for (; i + 32 <= k; i += 32) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wr + i);
        for (int m = 0; m < mb; m++)
            acc[m][0] = _mm512_dpbf16_ps(acc[m][0], (__m512bh)_mm512_loadu_si512(x + m * k + i), w0);
    }
    for (int m = 0; m < mb; m++) {
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]));
        for (int64_t j = i; j < k; j++) s += bf16_to_f32(x[m * k + j]) * bf16_to_f32(wr[j]);
        out[m] = s;
    }
}

static void bf16_dot_row(const uint16_t *x, int mb, const uint16_t *w, int64_t n, int64_t k, float out[MB]) {
    switch (mb) {
    case 1: row_bf16_dot(x, 1, w, n, k, out); break;
    case 2: row_bf16_dot(x, 2, w, n, k, out); break;
    case 3: row_bf16_dot(x, 3, w, n, k, out); break;
    default: row_bf16_dot(x, MB, w, n, k, out); break;
    }
}
#endif

/* The cases 2 and 3 of a switch on the row count, where MB is 4. */
#if MB == 4
#define SMALL_CASES(two, three) case 2: two; break; case 3: three; break;
#else
#define SMALL_CASES(two, three)
#endif

#define DENSE_CASE(WT) \
    switch (mb) { \
    case 1: block_dense(x, 1, w, WT, r0, rb, k, out); break; \
    case 2: block_dense(x, 2, w, WT, r0, rb, k, out); break; \
    case 3: block_dense(x, 3, w, WT, r0, rb, k, out); break; \
    default: block_dense(x, DENSE_MB, w, WT, r0, rb, k, out); break; \
    }

/* block_dense with the weight type and the row count as constants, so each case compiles to its own loop. */
static void dense_block(const float *x, int mb, const void *w, int wtype, int64_t r0, int rb, int64_t k,
                        float *out) {
    if (wtype == W_BF16) { DENSE_CASE(W_BF16) }
    else if (wtype == W_F16) { DENSE_CASE(W_F16) }
    else { DENSE_CASE(W_I8) }
}

#ifdef INT_DOT
/* With VNNI the int8 weights are made unsigned (w + 128: the sign bit flipped) and vpdpbusd adds their
 * products with x without saturating; x's 128 * sum is taken off once per row of x (``int8_offsets``), the
 * same for every weight row. Without VNNI the signs move onto x (vpmaddubsw's unsigned side must stay <= 128
 * so its pair sums fit in int16). */
#if defined(__AVX512VNNI__) || defined(__AVXVNNI__)
#define I8_UNSIGNED 1
#endif

/* int8 row n times `mb` rows of x quantised to int8 per block of ib inputs: within a block the byte products
 * add up exactly in int32, and only the block's sum is converted and scaled by its activation scale (the row's
 * weight scale is applied by the caller). */
static inline __attribute__((always_inline)) void row_i8_int(
        const int8_t *xq, const float *xd, const float *offset, int mb, const int8_t *w, int64_t n, int64_t k,
        int64_t ib, float out[MB]) {
    const int64_t blocks = k / ib;
    const int8_t *wr = w + n * k;
#if defined(__AVX512VNNI__) && VL == 16
    if (ib % 64 == 0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        __m512 acc[MB];
        for (int m = 0; m < MB; m++) acc[m] = _mm512_setzero_ps();
        for (int64_t b = 0; b < blocks; b++) {
            __m512i iacc[MB];
            for (int m = 0; m < MB; m++) iacc[m] = _mm512_setzero_si512();
            for (int64_t i = b * ib; i < (b + 1) * ib; i += 64) {
                PREFETCH(wr + i);
                const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(wr + i), flip);
                for (int m = 0; m < mb; m++)
                    iacc[m] = _mm512_dpbusd_epi32(iacc[m], u, _mm512_loadu_si512(xq + m * k + i));
            }
            for (int m = 0; m < mb; m++)
                acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[m]), _mm512_set1_ps(xd[m * blocks + b]), acc[m]);
        }
        for (int m = 0; m < mb; m++) out[m] = _mm512_reduce_add_ps(acc[m]) - offset[m];
        return;
    }
#endif
    __m256 acc[MB];
    for (int m = 0; m < MB; m++) acc[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        __m256i iacc[MB];
        for (int m = 0; m < MB; m++) iacc[m] = _mm256_setzero_si256();
        for (int64_t i = b * ib; i < (b + 1) * ib; i += 32) {
            PREFETCH(wr + i);
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(wr + i));
#ifdef I8_UNSIGNED
            const __m256i u = _mm256_xor_si256(wv, _mm256_set1_epi8((char)0x80));
            for (int m = 0; m < mb; m++)
                iacc[m] = dot_acc_u8s8(iacc[m], u, _mm256_loadu_si256((const __m256i *)(xq + m * k + i)));
#else
            const __m256i wa = _mm256_sign_epi8(wv, wv);
            for (int m = 0; m < mb; m++)
                iacc[m] = dot_acc_u8s8(iacc[m], wa,
                                       _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(xq + m * k + i)), wv));
#endif
        }
        for (int m = 0; m < mb; m++)
            acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[m]), _mm256_set1_ps(xd[m * blocks + b]), acc[m]);
    }
    for (int m = 0; m < mb; m++) out[m] = hsum256(acc[m]) - offset[m];
}

static void i8_int_row(const int8_t *xq, const float *xd, const float *offset, int mb, const int8_t *w, int64_t n,
                       int64_t k, int64_t ib, float out[MB]) {
    switch (mb) {
    case 1: row_i8_int(xq, xd, offset, 1, w, n, k, ib, out); break;
    SMALL_CASES(row_i8_int(xq, xd, offset, 2, w, n, k, ib, out), row_i8_int(xq, xd, offset, 3, w, n, k, ib, out))
    default: row_i8_int(xq, xd, offset, MB, w, n, k, ib, out); break;
    }
}

/* What row_i8_int takes off each row of x: 128 * sum of its int8 values, block by block in its scales (zero
 * where the weights keep their signs). */
static void int8_offsets(const int8_t *xq, const float *xd, int64_t m, int64_t k, int64_t ib, float *offset) {
    for (int64_t r = 0; r < m; r++) {
        float s = 0.f;
#ifdef I8_UNSIGNED
        for (int64_t b = 0; b < k / ib; b++) {
            int32_t t = 0;
            for (int64_t i = 0; i < ib; i++) t += xq[r * k + b * ib + i];
            s += 128.f * (float)t * xd[r * (k / ib) + b];
        }
#else
        (void)xq; (void)xd; (void)k; (void)ib;
#endif
        offset[r] = s;
    }
}
#endif

/* y[M, N] (dtype out_dtype) = x[M, K] (dtype x_dtype) . W^T, W [N, K] bf16 / fp16 / int8; an int8 row's sum
 * is multiplied by its scale (scales [N], dtype scale_dtype) before rounding. */
int ponder_gemv_dense(const void *x, int x_dtype, const void *w, int wtype, const void *scales, int scale_dtype,
                      void *out, int out_dtype, int64_t m, int64_t n, int64_t k, int threads) {
    /* x in fp32, the scales, then room for the int8 activations, their block scales and offsets */
    float *xf = (float *)malloc((size_t)(m * k + (scales ? n : 0) + m * k / 32 + m * k / 4 + m + 8) * sizeof(float));
    if (!xf) return 1;
#ifdef BF16_DOT
    const int bf16_dot = wtype == W_BF16 && x_dtype == DT_BF16;
#else
    const int bf16_dot = 0;
#endif
    if (!bf16_dot) to_f32(x, x_dtype, xf, m * k);
    float *sf = scales ? xf + m * k : NULL;
    if (sf) to_f32(scales, scale_dtype, sf, n);
    float *xd = xf + m * k + (scales ? n : 0);  /* block scales, the offsets, then the int8 activations */
    float *offset = xd + m * k / 32;
    int8_t *xq = (int8_t *)(offset + m);
    /* blocks of 128 inputs where K allows (fewer conversions; llama.cpp's Q8_K activations share a scale per 256) */
    const int64_t ib = k % 128 == 0 ? 128 : 32;
#ifdef INT_DOT
    const int int_dot = wtype == W_I8 && k % 32 == 0;
    if (int_dot) {
        quantize_blocks(xf, m * k, ib, xq, xd);
        int8_offsets(xq, xd, m, k, ib, offset);
    }
#else
    (void)xq; (void)ib;
    const int int_dot = 0;
#endif
    const int64_t blocks = (n + DENSE_RB - 1) / DENSE_RB;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t r0 = b * DENSE_RB;
        const int rb = (int)(n - r0 < DENSE_RB ? n - r0 : DENSE_RB);
        float res[DENSE_MB * DENSE_RB];
        if (!int_dot && !bf16_dot) {
            for (int64_t m0 = 0; m0 < m; m0 += DENSE_MB) {
                const int mb = (int)(m - m0 < DENSE_MB ? m - m0 : DENSE_MB);
                dense_block(xf + m0 * k, mb, w, wtype, r0, rb, k, res);
                for (int mm = 0; mm < mb; mm++)
                    for (int r = 0; r < rb; r++) {
                        const float v = res[mm * DENSE_RB + r];
                        store(out, out_dtype, (m0 + mm) * n + r0 + r, sf ? v * sf[r0 + r] : v);
                    }
            }
            continue;
        }
        for (int64_t r = r0; r < r0 + rb; r++)  /* each weight row reused from L1 by every row of x */
            for (int64_t m0 = 0; m0 < m; m0 += MB) {
                const int mb = (int)(m - m0 < MB ? m - m0 : MB);
#ifdef INT_DOT
                if (int_dot) i8_int_row(xq + m0 * k, xd + m0 * (k / ib), offset + m0, mb, (const int8_t *)w, r, k, ib, res);
#endif
#ifdef BF16_DOT
                if (bf16_dot) bf16_dot_row((const uint16_t *)x + m0 * k, mb, (const uint16_t *)w, r, k, res);
#endif
                for (int mm = 0; mm < mb; mm++) store(out, out_dtype, (m0 + mm) * n + r, sf ? res[mm] * sf[r] : res[mm]);
            }
    }
    free(xf);
    return 0;
}

/* One block of 32 inputs of an int4 row into chains c and c + 1 of each row of x. */
static inline __attribute__((always_inline)) void int4_block(
        const float *x, int mb, const uint8_t *wr, int64_t k, int64_t i, vf gacc[MB][4], const int c) {
    for (int half = 0; half < 16; half += VL) {
        vf lo, hi;
        v_load_nibbles(wr + i / 2 + half, &lo, &hi);
        for (int m = 0; m < mb; m++) {
            gacc[m][c] = v_fma(v_load_f32(x + m * k + i + half), lo, gacc[m][c]);
            gacc[m][c + 1] = v_fma(v_load_f32(x + m * k + i + 16 + half), hi, gacc[m][c + 1]);
        }
    }
}

static inline __attribute__((always_inline)) void row_int4(
        const float *x, const float *xsum, int mb, const uint8_t *w, const float *sz, int64_t n, int64_t k,
        int64_t group, float out[MB]) {
    vf acc[MB];
    float off[MB];
    const int64_t groups = k / group;
    const uint8_t *wr = w + n * (k / 2);
    const float *szr = sz + n * groups * 2;
    for (int m = 0; m < MB; m++) { acc[m] = v_zero(); off[m] = 0.f; }
    for (int64_t g = 0; g < groups; g++) {
        vf gacc[MB][4];  /* four chains: low and high nibbles of even and of odd blocks of 32 */
        for (int m = 0; m < MB; m++) for (int c = 0; c < 4; c++) gacc[m][c] = v_zero();
        const int64_t end = (g + 1) * group;
        int64_t i = g * group;
        for (; i + 64 <= end; i += 64) {
            PREFETCH(wr + i / 2);
            int4_block(x, mb, wr, k, i, gacc, 0);
            int4_block(x, mb, wr, k, i + 32, gacc, 2);
        }
        if (i < end) int4_block(x, mb, wr, k, i, gacc, 0);
        const float scale = szr[g * 2], zero = szr[g * 2 + 1];
        const vf vs = v_set1(scale);
        for (int m = 0; m < mb; m++) {
            acc[m] = v_fma(vs, (gacc[m][0] + gacc[m][1]) + (gacc[m][2] + gacc[m][3]), acc[m]);
            off[m] += (zero - 8.f * scale) * xsum[m * groups + g];
        }
    }
    for (int m = 0; m < mb; m++) out[m] = v_sum(acc[m]) + off[m];
}

#ifdef INT_DOT

/* int4 rows times x quantised to int8 per group (the weights' group, one scale each, as llama.cpp's Q8_K
 * activations share one scale per 256): within a group the nibbles times the int8 activations add up exactly
 * in int32, one byte multiply-add per 32 (or 64) weights and row, and only a group's sum is converted and
 * scaled by (activation scale x weight scale), its zero term added as in row_int4. Each 128-bit lane of a
 * register holds one group, so a 256-bit register carries two groups and a 512-bit one four: per register of
 * groups and row, one conversion and two multiply-adds apply all their scales and zero terms (one group per
 * register spent more instructions on that than on the products, and with a few rows the loop is bound by
 * instructions, not memory). Per block j of 32 inputs of a group, the 16 bytes of nibbles of each group of the
 * register (contiguous in the row) make one register of low nibbles and one of high ones, against x in the
 * same order (``lane_layout``). Integer sums are exact and the float steps run in the same order whatever
 * the row count, so a row's value does not depend on how many rows share the pass. */

/* Group g alone, in 256 bits against x in input order, into acc[m] and off[m]: the groups past the last whole
 * register of groups. */
static inline __attribute__((always_inline)) void int4_group(
        const int8_t *xq, const float *xd, const float *xsum, int mb, const uint8_t *wr, const float *szr,
        int64_t k, int64_t group, int64_t g, __m256 acc[MB], float off[MB]) {
    const int64_t groups = k / group, blocks = group / 32;
    __m256i iacc[MB];
    for (int m = 0; m < MB; m++) iacc[m] = _mm256_setzero_si256();
    for (int64_t b = g * blocks; b < (g + 1) * blocks; b++) {
        const __m256i wv = unpack_nibbles(wr + b * 16);
        for (int m = 0; m < mb; m++)
            iacc[m] = group_acc(iacc[m], wv, _mm256_loadu_si256((const __m256i *)(xq + m * k + b * 32)));
    }
    for (int m = 0; m < mb; m++) iacc[m] = group_sum(iacc[m]);
    const float ws = szr[g * 2], c = szr[g * 2 + 1] - 8.f * ws;
    for (int m = 0; m < mb; m++) {
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[m]), _mm256_set1_ps(xd[m * groups + g] * ws), acc[m]);
        off[m] += c * xsum[m * groups + g];
    }
}

/* int4 row n times `mb` rows of x, two groups per 256-bit register (xo, xdl, xsl from lane_layout with 2
 * groups per register; xq, xd, xsum in input order for an odd last group). */
static inline __attribute__((always_inline)) void row_int4_int(
        const int8_t *xo, const float *xdl, const float *xsl, const int8_t *xq, const float *xd, const float *xsum,
        int mb, const uint8_t *w, const float *sz, int64_t n, int64_t k, int64_t group, float out[MB]) {
    const int64_t groups = k / group, regs = groups / 2, blocks = group / 32;
    const uint8_t *wr = w + n * (k / 2);
    const float *szr = sz + n * groups * 2;
    const __m256i mask = _mm256_set1_epi8(15);
    const __m256i scale_at = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2), zero_at = _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3);
    __m256 acc[MB];
    float off[MB];
    for (int m = 0; m < MB; m++) { acc[m] = _mm256_setzero_ps(); off[m] = 0.f; }
    for (int64_t q = 0; q < regs; q++) {
        const uint8_t *wq = wr + q * group;  /* two groups of group / 2 bytes */
        __m256i iacc[MB][2];
        for (int m = 0; m < MB; m++) iacc[m][0] = iacc[m][1] = _mm256_setzero_si256();
        for (int64_t j = 0; j < blocks; j++) {
            PREFETCH(wq + j * 32);
            const uint8_t *b = wq + j * 16;
            const __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b)),
                                                        _mm_loadu_si128((const __m128i *)(b + group / 2)), 1);
            const __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
            const int8_t *xj = xo + q * 2 * group + j * 64;
            for (int m = 0; m < mb; m++) {
                iacc[m][0] = group_acc(iacc[m][0], lo, _mm256_loadu_si256((const __m256i *)(xj + m * k)));
                iacc[m][1] = group_acc(iacc[m][1], hi, _mm256_loadu_si256((const __m256i *)(xj + m * k + 32)));
            }
        }
        for (int m = 0; m < mb; m++) { iacc[m][0] = group_sum(iacc[m][0]); iacc[m][1] = group_sum(iacc[m][1]); }
        const __m256 s4 = _mm256_castps128_ps256(_mm_loadu_ps(szr + q * 4));  /* (scale, zero) x 2 */
        const __m256 ws = _mm256_permutevar8x32_ps(s4, scale_at);
        const __m256 c = _mm256_fnmadd_ps(_mm256_set1_ps(8.f), ws, _mm256_permutevar8x32_ps(s4, zero_at));
        for (int m = 0; m < mb; m++) {
            const __m256 p = _mm256_cvtepi32_ps(_mm256_add_epi32(iacc[m][0], iacc[m][1]));
            acc[m] = _mm256_fmadd_ps(_mm256_mul_ps(p, _mm256_loadu_ps(xdl + (m * regs + q) * 8)), ws, acc[m]);
            acc[m] = _mm256_fmadd_ps(c, _mm256_loadu_ps(xsl + (m * regs + q) * 8), acc[m]);
        }
    }
    if (groups % 2) int4_group(xq, xd, xsum, mb, wr, szr, k, group, groups - 1, acc, off);
    for (int m = 0; m < mb; m++) out[m] = hsum256(acc[m]) + off[m];
}

#if VL == 16
static inline __m512i dot_acc_u8s8_512(__m512i acc, __m512i u, __m512i s) {
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* row_int4_int with four groups per 512-bit register (xo, xdl, xsl from lane_layout with 4 per register). */
static inline __attribute__((always_inline)) void row_int4_int512(
        const int8_t *xo, const float *xdl, const float *xsl, const int8_t *xq, const float *xd, const float *xsum,
        int mb, const uint8_t *w, const float *sz, int64_t n, int64_t k, int64_t group, float out[MB]) {
    const int64_t groups = k / group, regs = groups / 4, blocks = group / 32;
    const uint8_t *wr = w + n * (k / 2);
    const float *szr = sz + n * groups * 2;
    const __m512i mask = _mm512_set1_epi8(15);
    const __m512i scale_at = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i zero_at = _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7);
    __m512 acc[MB];
    for (int m = 0; m < MB; m++) acc[m] = _mm512_setzero_ps();
    for (int64_t q = 0; q < regs; q++) {
        const uint8_t *wq = wr + q * 2 * group;  /* four groups of group / 2 bytes */
        __m512i iacc[MB][2];
        for (int m = 0; m < MB; m++) iacc[m][0] = iacc[m][1] = _mm512_setzero_si512();
#define INT4_LANES(raw, j) do { \
            const __m512i lo_ = _mm512_and_si512(raw, mask), hi_ = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask); \
            const int8_t *xj_ = xo + q * 4 * group + (j) * 128; \
            for (int m = 0; m < mb; m++) { \
                iacc[m][0] = dot_acc_u8s8_512(iacc[m][0], lo_, _mm512_loadu_si512(xj_ + m * k)); \
                iacc[m][1] = dot_acc_u8s8_512(iacc[m][1], hi_, _mm512_loadu_si512(xj_ + m * k + 64)); \
            } \
        } while (0)
        if (blocks % 4 == 0) {  /* four blocks of each group in one load, their 128-bit lanes transposed */
            for (int64_t j = 0; j < blocks; j += 4) {
                const uint8_t *b = wq + j * 16;
                PREFETCH(b); PREFETCH(b + group / 2); PREFETCH(b + group); PREFETCH(b + 3 * group / 2);
                const __m512i a0 = _mm512_loadu_si512(b), a1 = _mm512_loadu_si512(b + group / 2);
                const __m512i a2 = _mm512_loadu_si512(b + group), a3 = _mm512_loadu_si512(b + 3 * group / 2);
                const __m512i t0 = _mm512_shuffle_i64x2(a0, a1, 0x88), t1 = _mm512_shuffle_i64x2(a0, a1, 0xDD);
                const __m512i t2 = _mm512_shuffle_i64x2(a2, a3, 0x88), t3 = _mm512_shuffle_i64x2(a2, a3, 0xDD);
                INT4_LANES(_mm512_shuffle_i64x2(t0, t2, 0x88), j);
                INT4_LANES(_mm512_shuffle_i64x2(t1, t3, 0x88), j + 1);
                INT4_LANES(_mm512_shuffle_i64x2(t0, t2, 0xDD), j + 2);
                INT4_LANES(_mm512_shuffle_i64x2(t1, t3, 0xDD), j + 3);
            }
        } else {
            for (int64_t j = 0; j < blocks; j++) {
                PREFETCH(wq + j * 64);
                const uint8_t *b = wq + j * 16;
                __m512i raw = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b));
                raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + group / 2)), 1);
                raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + group)), 2);
                raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + 3 * group / 2)), 3);
                INT4_LANES(raw, j);
            }
        }
#undef INT4_LANES
        const __m512 s8 = _mm512_castps256_ps512(_mm256_loadu_ps(szr + q * 8));  /* (scale, zero) x 4 */
        const __m512 ws = _mm512_permutexvar_ps(scale_at, s8);
        const __m512 c = _mm512_fnmadd_ps(_mm512_set1_ps(8.f), ws, _mm512_permutexvar_ps(zero_at, s8));
        for (int m = 0; m < mb; m++) {
            const __m512 p = _mm512_cvtepi32_ps(_mm512_add_epi32(iacc[m][0], iacc[m][1]));
            acc[m] = _mm512_fmadd_ps(_mm512_mul_ps(p, _mm512_loadu_ps(xdl + (m * regs + q) * 16)), ws, acc[m]);
            acc[m] = _mm512_fmadd_ps(c, _mm512_loadu_ps(xsl + (m * regs + q) * 16), acc[m]);
        }
    }
    __m256 tail[MB];
    float off[MB];
    for (int m = 0; m < MB; m++) { tail[m] = _mm256_setzero_ps(); off[m] = 0.f; }
    for (int64_t g = regs * 4; g < groups; g++) int4_group(xq, xd, xsum, mb, wr, szr, k, group, g, tail, off);
    for (int m = 0; m < mb; m++) out[m] = _mm512_reduce_add_ps(acc[m]) + (hsum256(tail[m]) + off[m]);
}
#endif

/* x for row_int4_int(512) with `per` groups per register: per register of groups and block j of a group,
 * inputs 0..15 of block j of each of its groups, then inputs 16..31 of each (the nibble order of its
 * registers); xdl and xsl spread each group's activation scale over its four lanes and its input sum over
 * the first of them. (Groups past the last whole register are read from xq in input order.) */
static void lane_layout(const int8_t *xq, const float *xd, const float *xsum, int64_t m, int64_t k, int64_t group,
                        int per, int8_t *xo, float *xdl, float *xsl) {
    const int64_t groups = k / group, regs = groups / per, blocks = group / 32;
    for (int64_t r = 0; r < m; r++)
        for (int64_t q = 0; q < regs; q++) {
            for (int64_t j = 0; j < blocks; j++)
                for (int i = 0; i < per; i++) {
                    const int8_t *src = xq + r * k + (q * per + i) * group + j * 32;
                    int8_t *o = xo + r * k + q * per * group + j * 32 * per + i * 16;
                    memcpy(o, src, 16);
                    memcpy(o + 16 * per, src + 16, 16);
                }
            for (int i = 0; i < per; i++)
                for (int l = 0; l < 4; l++) {
                    xdl[(r * regs + q) * 4 * per + i * 4 + l] = xd[r * groups + q * per + i];
                    xsl[(r * regs + q) * 4 * per + i * 4 + l] = l ? 0.f : xsum[r * groups + q * per + i];
                }
        }
}
#endif


/* Each weight row r (rows shared among the threads) times the rows of x, MB at a time: ROW(rows) fills res
 * for rows m0 .. m0 + rows - 1 of x, with the row count a constant so each case compiles to its own loop. The
 * weight rows go in blocks of about 16 KiB (ROW_BYTES each), each pass of MB rows of x over the whole block, so
 * both stay in L1; a prefill's x, taken whole for each weight row, would stream from L2 once per weight row. */
#define EACH_ROW_BLOCK(ROW, ROW_BYTES) do { \
        const int64_t rb_ = (ROW_BYTES) >= 8192 ? 1 : 16384 / (ROW_BYTES) < 16 ? 16384 / (ROW_BYTES) : 16; \
        _Pragma("omp parallel for schedule(static) num_threads(threads)") \
        for (int64_t b_ = 0; b_ < (n + rb_ - 1) / rb_; b_++) { \
            float res[MB]; \
            const int64_t r1_ = (b_ + 1) * rb_ < n ? (b_ + 1) * rb_ : n; \
            for (int64_t m0 = 0; m0 < m; m0 += MB) { \
                int mb = (int)(m - m0 < MB ? m - m0 : MB); \
                for (int64_t r = b_ * rb_; r < r1_; r++) { \
                    switch (mb) { \
                    case 1: ROW(1); break; \
                    SMALL_CASES(ROW(2), ROW(3)) \
                    default: ROW(MB); break; \
                    } \
                    for (int mm = 0; mm < mb; mm++) store(out, out_dtype, (m0 + mm) * n + r, res[mm]); \
                } \
            } \
        } \
    } while (0)

int ponder_gemv_int4(const void *x, int x_dtype, const uint8_t *w, const float *sz, int64_t group, void *out,
                     int out_dtype, int64_t m, int64_t n, int64_t k, int threads) {
    if (k % 32 || k % group || (group != 32 && group != 64 && group != 128 && group != 256)) return 2;
    int64_t groups = k / group;
    float *xf = (float *)malloc((size_t)(m * k + m * groups + m * k / 32 + m * k / 4) * sizeof(float));
    if (!xf) return 1;
    to_f32(x, x_dtype, xf, m * k);
    float *xsum = xf + m * k;
    for (int64_t g = 0; g < m * groups; g++) {  /* VL lanes in a fixed order: one serial chain took 40 us at 8,960 */
        vf s = v_zero();
        for (int64_t i = 0; i < group; i += VL) s = s + v_load_f32(xf + g * group + i);
        xsum[g] = v_sum(s);
    }
#ifdef INT_DOT
    float *xd = xsum + m * groups;  /* group scales, then the int8 activations */
    int8_t *xq = (int8_t *)(xd + m * groups);
    quantize_blocks(xf, m * k, group, xq, xd);
    const int per = VL == 16 ? 4 : 2;  /* groups per register */
    const int64_t regs = groups / per;
    int8_t *xo = (int8_t *)malloc((size_t)(m * k) + (size_t)(m * regs * per * 8) * sizeof(float) + 64);
    if (!xo) { free(xf); return 1; }
    float *xdl = (float *)(xo + (m * k + 63) / 64 * 64), *xsl = xdl + m * regs * per * 4;
    lane_layout(xq, xd, xsum, m, k, group, per, xo, xdl, xsl);
#if VL == 16
#define ROW(rows) row_int4_int512(xo + m0 * k, xdl + m0 * regs * 16, xsl + m0 * regs * 16, xq + m0 * k, \
                                  xd + m0 * groups, xsum + m0 * groups, rows, w, sz, r, k, group, res)
#else
#define ROW(rows) row_int4_int(xo + m0 * k, xdl + m0 * regs * 8, xsl + m0 * regs * 8, xq + m0 * k, \
                               xd + m0 * groups, xsum + m0 * groups, rows, w, sz, r, k, group, res)
#endif
    EACH_ROW_BLOCK(ROW, k / 2);
#undef ROW
    free(xo);
#else
#define ROW(rows) row_int4(xf + m0 * k, xsum + m0 * groups, rows, w, sz, r, k, group, res)
    EACH_ROW_BLOCK(ROW, k / 2);
#undef ROW
#endif
    free(xf);
    return 0;
}

/* VL values into out[i..] as out_dtype (bf16 and fp16 rounded to nearest even, as store does). */
static inline void v_store(void *out, int dtype, int64_t i, vf v) {
#if VL == 16
    if (dtype == DT_F32) { _mm512_storeu_ps((float *)out + i, v); return; }
    if (dtype == DT_F16) {
        _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        return;
    }
    __m512i u = _mm512_castps_si512(v);
    u = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                          _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)))), 16);
    _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), _mm512_cvtepi32_epi16(u));
#elif VL == 8
    if (dtype == DT_F32) { _mm256_storeu_ps((float *)out + i, v); return; }
    if (dtype == DT_F16) { _mm_storeu_si128((__m128i *)((uint16_t *)out + i), _mm256_cvtps_ph(v, 0)); return; }
    __m256i u = _mm256_castps_si256(v);
    u = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                          _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1)))), 16);
    u = _mm256_permute4x64_epi64(_mm256_packus_epi32(u, u), 0x08);
    _mm_storeu_si128((__m128i *)((uint16_t *)out + i), _mm256_castsi256_si128(u));
#elif VL == 4
    if (dtype == DT_F32) { vst1q_f32((float *)out + i, v); return; }
    if (dtype == DT_F16) { vst1_u16((uint16_t *)out + i, vreinterpret_u16_f16(vcvt_f16_f32(v))); return; }
    uint32x4_t u = vreinterpretq_u32_f32(v);
    u = vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1))));
    vst1_u16((uint16_t *)out + i, vshrn_n_u32(u, 16));
#else
    store(out, dtype, i, v);
#endif
}

/* Rows [n0, n1) of int4 weights dequantised into out [n1 - n0, K] (dtype out_dtype), for prefill-sized
 * products that run the compute dtype's GEMM a block of rows at a time: w = q * scale + (zero - 8 * scale). */
int ponder_dequant_int4(const uint8_t *w, const float *sz, int64_t group, int64_t n0, int64_t n1, int64_t k,
                        void *out, int out_dtype, int threads) {
    int64_t groups = k / group;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = n0; n < n1; n++)
        for (int64_t i = 0; i < k; i += 32) {
            const uint8_t *b = w + n * (k / 2) + i / 2;
            const float *s = sz + (n * groups + i / group) * 2;
            const vf scale = v_set1(s[0]), offset = v_set1(s[1] - 8.f * s[0]);
            for (int half = 0; half < 16; half += VL) {
                vf lo, hi;
                v_load_nibbles(b + half, &lo, &hi);
                v_store(out, out_dtype, (n - n0) * k + i + half, v_fma(lo, scale, offset));
                v_store(out, out_dtype, (n - n0) * k + i + 16 + half, v_fma(hi, scale, offset));
            }
        }
    return 0;
}

/* exp(x), x clamped to [-87, 88] (softmax after subtracting the maximum, the sigmoid of SiLU), VL lanes at once:
 * Cephes' polynomial on x - n ln 2, times 2^n built in the exponent bits; relative error about 1e-7. */
static inline vf v_exp(vf x) {
    x = v_min(v_max(x, v_set1(-87.f)), v_set1(88.f));
    const vf n = v_floor(v_fma(x, v_set1(1.44269504088896341f), v_set1(0.5f)));
    const vf r = v_fma(n, v_set1(2.12194440e-4f), v_fma(n, v_set1(-0.693359375f), x));
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    p = v_fma(p * r, r, r + v_set1(1.f));
    return p * v_pow2i(n);
}

/* exp(x) of one float (every lane holds it) */
static inline float exp1(float x) { return v_hmax(v_exp(v_set1(x))); }

static inline vf kv_vec(const void *p, int dtype, int64_t i) {
    if (dtype == DT_BF16) return v_load_bf16((const uint16_t *)p + i);
    if (dtype == DT_F16) return v_load_f16((const uint16_t *)p + i);
    return v_load_f32((const float *)p + i);
}

/* Cached tokens per tile: a tile of keys or values (64 x 128 x 2 bytes) is read from memory once and reused
 * from L1 by every head of its group. */
#define ATT_TILE 64

/* Scores of cached tokens [t0, t1) for one head: four tokens at a time (four independent FMA chains; one
 * chain per token waits on the FMA latency at every step). */
static inline void head_scores(const float *qh, const char *kh, int dtype, int64_t t0, int64_t t1, int64_t d,
                               float *row) {
    int64_t tt = t0;
    for (; tt + 4 <= t1; tt += 4) {
        vf a0 = v_zero(), a1 = v_zero(), a2 = v_zero(), a3 = v_zero();
        for (int64_t i = 0; i < d; i += VL) {
            const vf qv = v_load_f32(qh + i);
            a0 = v_fma(qv, kv_vec(kh, dtype, tt * d + i), a0);
            a1 = v_fma(qv, kv_vec(kh, dtype, (tt + 1) * d + i), a1);
            a2 = v_fma(qv, kv_vec(kh, dtype, (tt + 2) * d + i), a2);
            a3 = v_fma(qv, kv_vec(kh, dtype, (tt + 3) * d + i), a3);
        }
        row[tt] = v_sum(a0); row[tt + 1] = v_sum(a1); row[tt + 2] = v_sum(a2); row[tt + 3] = v_sum(a3);
    }
    for (; tt < t1; tt++) {
        vf a = v_zero();
        for (int64_t i = 0; i < d; i += VL) a = v_fma(v_load_f32(qh + i), kv_vec(kh, dtype, tt * d + i), a);
        row[tt] = v_sum(a);
    }
}

/* acc[i0 .. i0 + nv * VL) += sum over cached tokens [t0, t1) of p[tt] * value[tt]: nv (a constant where it is
 * inlined) accumulators stay in registers for the whole tile; the buffer is read and written once per tile. */
static inline __attribute__((always_inline)) void head_values(
        const float *p, const char *vh, int dtype, int64_t t0, int64_t t1, int64_t d, int64_t i0, const int nv,
        float *acc) {
    vf a[8];
    for (int j = 0; j < nv; j++) a[j] = v_load_f32(acc + i0 + j * VL);
    for (int64_t tt = t0; tt < t1; tt++) {
        const vf w = v_set1(p[tt]);
        for (int j = 0; j < nv; j++) a[j] = v_fma(w, kv_vec(vh, dtype, tt * d + i0 + j * VL), a[j]);
    }
    for (int j = 0; j < nv; j++) v_store(acc, DT_F32, i0 + j * VL, a[j]);
}

/* exp(row[j] - mx) in place and their sum (VL partial sums in a fixed order, then the tail). */
static float exp_and_sum(float *row, int64_t n, float mx) {
    const vf m = v_set1(mx);
    vf s = v_zero();
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        const vf e = v_exp(v_load_f32(row + j) - m);
        v_store(row, DT_F32, j, e);
        s = s + e;
    }
    float sum = v_sum(s);
    for (; j < n; j++) sum += row[j] = exp1(row[j] - mx);
    return sum;
}

static float row_max(const float *row, int64_t n) {
    float mx = row[0];
    int64_t j = 0;
    if (n >= VL) {
        vf m = v_load_f32(row);
        for (j = VL; j + VL <= n; j += VL) m = v_max(m, v_load_f32(row + j));
        mx = v_hmax(m);
    }
    for (; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    return mx;
}

/* One query token attending over the first t cached tokens of a sequence: q [heads, d] and out [heads, d] in
 * `dtype`, keys and values [kv_heads, ., d] (`head_stride` elements apart) in the same dtype, the heads sharing
 * a KV head consecutive in q. Scores, softmax and the weighted sum are in fp32. Long sequences are cut into
 * chunks so that every thread streams a share of the cache (flash-decoding: each chunk keeps its maximum and
 * sum, merged at the end). Returns 2 when d is not a multiple of the vector width. */
int ponder_attend_one(const void *q, const void *keys, const void *values, int dtype, int64_t heads,
                      int64_t kv_heads, int64_t t, int64_t d, int64_t head_stride, float scale, void *out,
                      int threads) {
    if (d % VL || heads % kv_heads || t < 1) return 2;
    const int64_t group = heads / kv_heads, esize = dt_size(dtype);
    int64_t splits = t >= 512 ? (2 * threads + kv_heads - 1) / kv_heads : 1;
    if (splits > t / 256) splits = t / 256;
    if (splits > 64) splits = 64;
    if (splits < 1) splits = 1;
    const int64_t tasks = kv_heads * splits, chunk = (t + splits - 1) / splits;
    /* q, then per task and head: the weighted sums [d] (64-byte aligned rows where d allows), (max, sum), and
     * the scores of its chunk */
    float *buf = (float *)malloc((size_t)(heads * d + tasks * group * (d + 2 + chunk) + 16) * 4);
    if (!buf) return 1;
    float *qf = buf, *pacc = (float *)(((uintptr_t)(buf + heads * d) + 63) & ~(uintptr_t)63);
    float *pms = pacc + tasks * group * d, *scores = pms + tasks * group * 2;
    to_f32(q, dtype, qf, heads * d);
    for (int64_t i = 0; i < heads * d; i++) qf[i] *= scale;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t g = task / splits, t0 = (task % splits) * chunk, t1 = t0 + chunk < t ? t0 + chunk : t;
        const char *kh = (const char *)keys + g * head_stride * esize;
        const char *vh = (const char *)values + g * head_stride * esize;
        const float *qg = qf + g * group * d;
        float *sc = scores + task * group * chunk - t0;  /* sc[hh * chunk + tt] for tt in [t0, t1) */
        float *acc = pacc + task * group * d, *ms = pms + task * group * 2;
        for (int64_t i = 0; i < group * d; i++) acc[i] = 0.f;
        if (t1 <= t0) {
            for (int64_t hh = 0; hh < group; hh++) ms[hh * 2] = -INFINITY, ms[hh * 2 + 1] = 0.f;
            continue;
        }
        for (int64_t a = t0; a < t1; a += ATT_TILE) {
            const int64_t b = a + ATT_TILE < t1 ? a + ATT_TILE : t1;
            for (int64_t hh = 0; hh < group; hh++) head_scores(qg + hh * d, kh, dtype, a, b, d, sc + hh * chunk);
        }
        for (int64_t hh = 0; hh < group; hh++) {
            float *row = sc + hh * chunk + t0;
            const float mx = row_max(row, t1 - t0);
            ms[hh * 2] = mx;
            ms[hh * 2 + 1] = exp_and_sum(row, t1 - t0, mx);
        }
        for (int64_t a = t0; a < t1; a += ATT_TILE) {
            const int64_t b = a + ATT_TILE < t1 ? a + ATT_TILE : t1;
            for (int64_t hh = 0; hh < group; hh++) {
                int64_t i0 = 0;
                for (; i0 + 8 * VL <= d; i0 += 8 * VL) head_values(sc + hh * chunk, vh, dtype, a, b, d, i0, 8, acc + hh * d);
                for (; i0 + 2 * VL <= d; i0 += 2 * VL) head_values(sc + hh * chunk, vh, dtype, a, b, d, i0, 2, acc + hh * d);
                for (; i0 < d; i0 += VL) head_values(sc + hh * chunk, vh, dtype, a, b, d, i0, 1, acc + hh * d);
            }
        }
    }
    for (int64_t g = 0; g < kv_heads; g++)
        for (int64_t hh = 0; hh < group; hh++) {
            float mx = -INFINITY, sum = 0.f, w[64];
            float *o = qf + (g * group + hh) * d;  /* q is no longer needed: the merged row is built there */
            for (int64_t c = 0; c < splits; c++) {
                const float m = pms[((g * splits + c) * group + hh) * 2];
                mx = m > mx ? m : mx;
            }
            for (int64_t c = 0; c < splits; c++) {
                const float *mc = pms + ((g * splits + c) * group + hh) * 2;
                w[c] = mc[0] == -INFINITY ? 0.f : exp1(mc[0] - mx);
                sum += w[c] * mc[1];
            }
            for (int64_t i = 0; i < d; i++) o[i] = 0.f;
            for (int64_t c = 0; c < splits; c++) {
                const float *ac = pacc + ((g * splits + c) * group + hh) * d;
                for (int64_t i = 0; i < d; i++) o[i] += w[c] * ac[i];
            }
            for (int64_t i = 0; i < d; i++) store(out, dtype, (g * group + hh) * d + i, o[i] / sum);
        }
    free(buf);
    return 0;
}

/* The element-wise steps between a decoding layer's products, done in one pass each in fp32 and rounded once:
 * through torch each is several dispatches over a few thousand values (an RMS norm four, SiLU times up two,
 * rotary three), together 8-13 ms of a 60-150 ms decode pass of a 1.5B model on a 2-core Zen 3. The forward
 * pass calls the same functions, so decode and prefill compute each row alike. */

/* n values of `dtype` -> fp32, VL at a time. */
static void row_to_f32(const void *src, int dtype, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(dst, DT_F32, i, kv_vec(src, dtype, i));
    to_f32((const char *)src + i * dt_size(dtype), dtype, dst + i, n - i);
}

/* n fp32 values -> `dtype`, rounded to nearest even as torch rounds. */
static void row_from_f32(const float *src, void *dst, int dtype, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(dst, dtype, i, v_load_f32(src + i));
    for (; i < n; i++) store(dst, dtype, i, src[i]);
}

static inline float sum_squares(const float *x, int64_t n) {
    vf a = v_zero(), b = v_zero();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        vf u = v_load_f32(x + i), v = v_load_f32(x + i + VL);
        a = v_fma(u, u, a);
        b = v_fma(v, v, b);
    }
    for (; i + VL <= n; i += VL) { vf u = v_load_f32(x + i); a = v_fma(u, u, a); }
    float s = v_sum(a) + v_sum(b);
    for (; i < n; i++) s += x[i] * x[i];
    return s;
}

/* Rows x [m, h] (`dtype`, row stride `x_stride`) -> out [m, h] contiguous: x / sqrt(mean(x^2) + eps) * w. With
 * `res` (rows [m, h] contiguous), x + res is taken first, rounded to `dtype` and written to `sum_out` [m, h], as
 * a residual add and the norm after it would give. Returns 1 when out of memory. */
int ponder_rms_norm(const void *x, int64_t x_stride, const void *res, void *sum_out, int dtype, const void *w,
                    int w_dtype, void *out, int64_t m, int64_t h, float eps, int threads) {
    const int64_t esize = dt_size(dtype);
    int failed = 0;
    #pragma omp parallel num_threads(m >= 8 ? threads : 1)
    {
        float *buf = (float *)malloc((size_t)h * 3 * 4);
        if (!buf) {
            #pragma omp atomic write
            failed = 1;
        } else {
            float *xf = buf, *rf = buf + h, *wf = buf + 2 * h;
            row_to_f32(w, w_dtype, wf, h);
            #pragma omp for schedule(static)
            for (int64_t r = 0; r < m; r++) {
                row_to_f32((const char *)x + r * x_stride * esize, dtype, xf, h);
                if (res) {
                    row_to_f32((const char *)res + r * h * esize, dtype, rf, h);
                    for (int64_t i = 0; i < h; i++) xf[i] += rf[i];
                    void *s = (char *)sum_out + r * h * esize;
                    row_from_f32(xf, s, dtype, h);
                    row_to_f32(s, dtype, xf, h);
                }
                const float scale = 1.f / sqrtf(sum_squares(xf, h) / (float)h + eps);
                for (int64_t i = 0; i < h; i++) xf[i] = xf[i] * scale * wf[i];
                row_from_f32(xf, (char *)out + r * h * esize, dtype, h);
            }
            free(buf);
        }
    }
    return failed;
}

/* Rotary embedding of m tokens' `heads` heads of size d: out = x * cos + roll(x, d/2) * sin with the tables
 * [m, d] in `dtype` (sin signed: [-sin, sin]); x and out may be the same memory. Token strides in elements. */
int ponder_rope(const void *x, int64_t x_stride, void *out, int64_t out_stride, int dtype, const void *cos,
                const void *sin, int64_t m, int64_t heads, int64_t d, int threads) {
    if (d > 1024 || d % 2) return 2;
    const int64_t esize = dt_size(dtype), half = d / 2;
    #pragma omp parallel for schedule(static) num_threads(m >= 8 ? threads : 1)
    for (int64_t t = 0; t < m; t++) {
        float c[1024], s[1024], v[1024], o[1024];
        row_to_f32((const char *)cos + t * d * esize, dtype, c, d);
        row_to_f32((const char *)sin + t * d * esize, dtype, s, d);
        for (int64_t hh = 0; hh < heads; hh++) {
            row_to_f32((const char *)x + (t * x_stride + hh * d) * esize, dtype, v, d);
            for (int64_t i = 0; i < half; i++) {
                o[i] = v[i] * c[i] + v[i + half] * s[i];
                o[i + half] = v[i + half] * c[i + half] + v[i] * s[i + half];
            }
            row_from_f32(o, (char *)out + (t * out_stride + hh * d) * esize, dtype, d);
        }
    }
    return 0;
}

/* gate_up [m, 2 * inter] (gate then up) -> out [m, inter]: silu(gate) * up. */
int ponder_silu_mul(const void *gate_up, int dtype, void *out, int64_t m, int64_t inter, int threads) {
    enum { CHUNK = 1024 };
    const int64_t esize = dt_size(dtype), chunks = (inter + CHUNK - 1) / CHUNK;
    #pragma omp parallel for schedule(static) num_threads(m * inter >= 8192 ? threads : 1)
    for (int64_t task = 0; task < m * chunks; task++) {
        const int64_t r = task / chunks, i0 = (task % chunks) * CHUNK;
        const int64_t n = inter - i0 < CHUNK ? inter - i0 : CHUNK;
        float g[CHUNK], u[CHUNK];
        row_to_f32((const char *)gate_up + (r * 2 * inter + i0) * esize, dtype, g, n);
        row_to_f32((const char *)gate_up + (r * 2 * inter + inter + i0) * esize, dtype, u, n);
        int64_t i = 0;
        for (; i + VL <= n; i += VL) {  /* g / (1 + exp(-g)) * u, exp's argument clamped: no overflow either side */
            const vf gv = v_load_f32(g + i);
            v_store(g, DT_F32, i, gv / (v_set1(1.f) + v_exp(v_zero() - gv)) * v_load_f32(u + i));
        }
        for (; i < n; i++) g[i] = g[i] / (1.f + exp1(-g[i])) * u[i];
        row_from_f32(g, (char *)out + (r * inter + i0) * esize, dtype, n);
    }
    return 0;
}

/* A prefill's product over 16-bit float weights: out[M, N] (fp32) = x[M, K] (fp32) . W[N, K]^T, W bf16 or fp16
 * widened in registers; a CPU without bf16/fp16 arithmetic otherwise widens the weights into memory for an fp32
 * GEMM. A tile of GW weight rows by GX rows of x keeps GW * GX vector sums in registers along K, so every
 * weight vector loaded (and widened) feeds GX FMAs and every x vector GW. x is taken in blocks of at most GEMM_XB
 * rows, as even as the row count allows, by GEMM_KC inputs (each block is read from L2 while every weight row
 * passes it once). Measured on a 2-core EPYC (Zen 3), 128 and 256 rows of 17920x1536 and 1536x8960 fp16 weights,
 * in one run: 96 rows by all of K 130-159 GFLOPS, 48 by 1,024 91-120; oneDNN's fp32 GEMM on the weights widened
 * into memory 113-123. */
#if VL == 16 || defined(__ARM_NEON)
#define GW 4
#define GX 6
#else
#define GW 3
#define GX 4
#endif
#define GEMM_XB 96
#define GEMM_KC 16384
static inline __attribute__((always_inline)) void gemm_tile(const float *x, int64_t ldx, const void *w, int wtype,
                                                            int64_t ldw, int64_t n0, const int gw, const int gx,
                                                            int64_t c0, int64_t c1, float *out, int64_t n, int add) {
    vf acc[GW][GX];
    for (int i = 0; i < gw; i++)
        for (int j = 0; j < gx; j++) acc[i][j] = v_zero();
    for (int64_t c = c0; c < c1; c += VL) {
        vf wv[GW];
        for (int i = 0; i < gw; i++) wv[i] = w_vec(w, wtype, (n0 + i) * ldw + c);
        for (int j = 0; j < gx; j++) {
            const vf xv = v_load_f32(x + j * ldx + c);
            for (int i = 0; i < gw; i++) acc[i][j] = v_fma(wv[i], xv, acc[i][j]);
        }
    }
    for (int j = 0; j < gx; j++)
        for (int i = 0; i < gw; i++) {
            float *o = out + j * n + n0 + i;
            *o = add ? *o + v_sum(acc[i][j]) : v_sum(acc[i][j]);
        }
}

/* Returns 2 where it declines (the caller's GEMM runs): K not a multiple of the vector width, or a build other than
 * AVX2's, where it is not measured against oneDNN's fp32 GEMM (on AVX-512 that one reached 250-400 GFLOPS). */
int ponder_gemm_f16w(const float *x, const void *w, int wtype, float *out, int64_t m, int64_t n, int64_t k,
                     int threads) {
    if (VL != 8 || k % VL || (wtype != W_BF16 && wtype != W_F16)) return 2;
    const int64_t tiles = (n + GW - 1) / GW, blocks = (m + GEMM_XB - 1) / GEMM_XB, rows = (m + blocks - 1) / blocks;
    for (int64_t b0 = 0; b0 < m; b0 += rows) {
        const int64_t b1 = b0 + rows < m ? b0 + rows : m;
        for (int64_t c0 = 0; c0 < k; c0 += GEMM_KC) {
            const int64_t c1 = c0 + GEMM_KC < k ? c0 + GEMM_KC : k;
            #pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t t = 0; t < tiles; t++) {
                const int64_t n0 = t * GW;
                const int gw = n - n0 < GW ? (int)(n - n0) : GW;
                for (int64_t m0 = b0; m0 < b1; m0 += GX) {
                    const int gx = b1 - m0 < GX ? (int)(b1 - m0) : GX;
                    if (gw == GW && gx == GX && wtype == W_BF16)
                        gemm_tile(x + m0 * k, k, w, W_BF16, k, n0, GW, GX, c0, c1, out + m0 * n, n, c0 > 0);
                    else if (gw == GW && gx == GX)
                        gemm_tile(x + m0 * k, k, w, W_F16, k, n0, GW, GX, c0, c1, out + m0 * n, n, c0 > 0);
                    else
                        gemm_tile(x + m0 * k, k, w, wtype, k, n0, gw, gx, c0, c1, out + m0 * n, n, c0 > 0);
                }
            }
        }
    }
    return 0;
}

/* One token of one sequence through every layer in one call (batch-1 decode, the path a desktop user waits on):
 * the same kernels, in the same order and with the same roundings, as the per-op path composes from Python
 * (``core/models/decode.py``), which spends 8-13 ms of a 60-150 ms pass of a 1.5B model on two cores in Python
 * and op dispatch between them. */
typedef struct {
    const void *w, *scales, *bias;  /* scales: int8's per row (scale_dtype) or int4's scales and zeros (fp32) */
    int kind, scale_dtype;          /* kind: W_BF16, W_F16, W_I8, or PROJ_INT4 */
    int64_t group, n, k;
} ponder_proj;
enum { PROJ_INT4 = 3 };

typedef struct {
    ponder_proj qkv, o, gate_up, down;
    const void *post_norm, *next_norm;  /* the post-attention norm; the next layer's input norm (or the final one) */
    const void *q_norm, *k_norm;        /* per-head norms (Qwen3), else NULL */
    void *cache;                        /* the layer's cache [slots, 2 * kv_heads, max_tokens, d] */
} ponder_layer;

static int proj_apply(const ponder_proj *p, const void *x, int dtype, void *out, int threads) {
    int rc = p->kind == PROJ_INT4
        ? ponder_gemv_int4(x, dtype, (const uint8_t *)p->w, (const float *)p->scales, p->group, out, dtype, 1, p->n,
                           p->k, threads)
        : ponder_gemv_dense(x, dtype, p->w, p->kind, p->scales, p->scale_dtype, out, dtype, 1, p->n, p->k, threads);
    if (rc || !p->bias) return rc;
    for (int64_t i = 0; i < p->n; i++) {  /* rounded, then the bias added and rounded: torch's out.add_(bias) */
        float a, b;
        to_f32((const char *)out + i * dt_size(dtype), dtype, &a, 1);
        to_f32((const char *)p->bias + i * dt_size(dtype), dtype, &b, 1);
        store(out, dtype, i, a + b);
    }
    return 0;
}

/* x [hidden] (the residual stream) and normed [hidden] (x through the first layer's input norm) in `dtype`; on
 * return x is the last layer's output and normed that through the final norm. cos and sin [d] (signed sin) for
 * position `pos`, whose keys and values are stored in `slot`; `scale` multiplies the attention scores. Returns 1
 * when out of memory, 2 where a kernel declines the shape (checked first for the attention; the caller then runs
 * the token through its per-step path, which stores its keys and values over any written here). */
int ponder_decode_token(const ponder_layer *layers, int n_layers, int dtype, int norm_dtype, void *x, void *normed,
                        const void *cos, const void *sin, int64_t slot, int64_t pos, int64_t heads, int64_t kv_heads,
                        int64_t d, int64_t max_tokens, int64_t hidden, int64_t inter, float eps, float scale,
                        int threads) {
    if (d % VL || heads % kv_heads || d > 1024) return 2;
    const int64_t es = dt_size(dtype), width = (heads + 2 * kv_heads) * d;
    char *buf = (char *)malloc((size_t)(width + heads * d + 2 * hidden + 3 * inter) * es);
    if (!buf) return 1;
    char *qkv = buf, *att = qkv + width * es, *delta = att + heads * d * es, *gate_up = delta + hidden * es;
    char *act = gate_up + 2 * inter * es;
    int rc = 0;
    for (int l = 0; l < n_layers && !rc; l++) {
        const ponder_layer *L = layers + l;
        if ((rc = proj_apply(&L->qkv, normed, dtype, qkv, threads))) break;
        if (L->q_norm) {
            ponder_rms_norm(qkv, d, NULL, NULL, dtype, L->q_norm, norm_dtype, qkv, heads, d, eps, 1);
            ponder_rms_norm(qkv + heads * d * es, d, NULL, NULL, dtype, L->k_norm, norm_dtype, qkv + heads * d * es,
                            kv_heads, d, eps, 1);
        }
        ponder_rope(qkv, 0, qkv, 0, dtype, cos, sin, 1, heads + kv_heads, d, 1);
        char *keys = (char *)L->cache + slot * 2 * kv_heads * max_tokens * d * es;
        for (int64_t g = 0; g < 2 * kv_heads; g++)
            memcpy(keys + (g * max_tokens + pos) * d * es, qkv + (heads + g) * d * es, (size_t)(d * es));
        if ((rc = ponder_attend_one(qkv, keys, keys + kv_heads * max_tokens * d * es, dtype, heads, kv_heads, pos + 1,
                                    d, max_tokens * d, scale, att, threads))) break;
        if ((rc = proj_apply(&L->o, att, dtype, delta, threads))) break;
        if ((rc = ponder_rms_norm(x, hidden, delta, x, dtype, L->post_norm, norm_dtype, normed, 1, hidden, eps, 1)))
            break;
        if ((rc = proj_apply(&L->gate_up, normed, dtype, gate_up, threads))) break;
        ponder_silu_mul(gate_up, dtype, act, 1, inter, threads);
        if ((rc = proj_apply(&L->down, act, dtype, delta, threads))) break;
        rc = ponder_rms_norm(x, hidden, delta, x, dtype, L->next_norm, norm_dtype, normed, 1, hidden, eps, 1);
    }
    free(buf);
    return rc;
}

const char *ponder_kernels_isa(void) { return ISA_NAME; }
