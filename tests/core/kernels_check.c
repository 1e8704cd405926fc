/* Checks gemv.c's fp32-path kernels against double-precision references: the builds this CPU cannot run natively
 * (NEON under qemu-aarch64) and the portable scalar one. Run by tests/core/test_kernels.py. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
int ponder_gemv_dense(const void *, int, const void *, int, const void *, int, void *, int, int64_t, int64_t, int64_t, int);
int ponder_gemv_int4(const void *, int, const uint8_t *, const float *, int64_t, void *, int, int64_t, int64_t, int64_t, int);
int ponder_dequant_int4(const uint8_t *, const float *, int64_t, int64_t, int64_t, int64_t, void *, int, int);
int ponder_attend_one(const void *, const void *, const void *, int, int64_t, int64_t, int64_t, int64_t, int64_t, float,
                      void *, int);
int ponder_rms_norm(const void *, int64_t, const void *, void *, int, const void *, int, void *, int64_t, int64_t,
                    float, int);
int ponder_rope(const void *, int64_t, void *, int64_t, int, const void *, const void *, int64_t, int64_t, int64_t,
                int);
int ponder_silu_mul(const void *, int, void *, int64_t, int64_t, int);
static float rnd(void) { return (float)rand() / RAND_MAX * 2.f - 1.f; }
static uint16_t bf(float f) { uint32_t u; memcpy(&u, &f, 4); return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16); }
static float unbf(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
int main(void) {
    int fails = 0;
    const int64_t shapes[][3] = {{1, 7, 37}, {3, 33, 100}, {5, 64, 256}, {9, 17, 1539}};
    for (int s = 0; s < 4; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = malloc(m * k * 4), *out = malloc(m * n * 4), *sc = malloc(n * 4);
        uint16_t *wb = malloc(n * k * 2); int8_t *wq = malloc(n * k);
        for (int64_t i = 0; i < m * k; i++) x[i] = rnd();
        for (int64_t i = 0; i < n * k; i++) { wb[i] = bf(rnd()); wq[i] = (int8_t)(rand() % 255 - 127); }
        for (int64_t i = 0; i < n; i++) sc[i] = rnd() * 0.01f;
        ponder_gemv_dense(x, 0, wb, 0, NULL, 0, out, 0, m, n, k, 2);
        double worst = 0;
        for (int64_t a = 0; a < m; a++) for (int64_t b = 0; b < n; b++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < k; i++) { ref += (double)x[a * k + i] * unbf(wb[b * k + i]); mag += fabs(x[a * k + i] * unbf(wb[b * k + i])); }
            worst = fmax(worst, fabs(out[a * n + b] - ref) / (mag * 1e-6 + 1e-30));
        }
        ponder_gemv_dense(x, 0, wq, 2, sc, 0, out, 0, m, n, k, 2);
        double worst8 = 0;
        for (int64_t a = 0; a < m; a++) for (int64_t b = 0; b < n; b++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < k; i++) { ref += (double)x[a * k + i] * wq[b * k + i] * sc[b]; mag += fabs(x[a * k + i] * wq[b * k + i] * sc[b]); }
            worst8 = fmax(worst8, fabs(out[a * n + b] - ref) / (mag * 1e-6 + 1e-30));
        }
        printf("dense %ldx%ldx%ld: bf16 error %.3f, int8 error %.3f (x 1e-6 of sum |x w|)\n", (long)m, (long)n, (long)k, worst, worst8);
        fails += worst > 1 || worst8 > 1;
        if (k % 32 == 0) {
            int64_t g = 64, groups = k / g;
            uint8_t *w4 = malloc(n * k / 2); float *sz = malloc(n * groups * 2 * 4), *deq = malloc(n * k * 4);
            for (int64_t i = 0; i < n * k / 2; i++) w4[i] = (uint8_t)(rand() & 255);
            for (int64_t i = 0; i < n * groups; i++) { sz[2 * i] = fabsf(rnd()) * 0.1f + 0.01f; sz[2 * i + 1] = rnd() * 0.1f; }
            ponder_gemv_int4(x, 0, w4, sz, g, out, 0, m, n, k, 2);
            ponder_dequant_int4(w4, sz, g, 0, n, k, deq, 0, 2);
            double worst4 = 0, worstd = 0;
            for (int64_t b = 0; b < n; b++) for (int64_t i = 0; i < k; i++) {
                int64_t blk = i / 32, j = i % 32; uint8_t byte = w4[b * k / 2 + blk * 16 + (j % 16)];
                int q = j < 16 ? (byte & 15) : (byte >> 4);
                const float *p = sz + (b * groups + i / g) * 2;
                worstd = fmax(worstd, fabs(deq[b * k + i] - ((q - 8) * (double)p[0] + p[1])));
            }
            for (int64_t a = 0; a < m; a++) for (int64_t b = 0; b < n; b++) {
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < k; i++) { ref += (double)x[a * k + i] * deq[b * k + i]; mag += fabs(x[a * k + i] * deq[b * k + i]); }
                worst4 = fmax(worst4, fabs(out[a * n + b] - ref) / (mag * 1e-6 + 1e-30));
            }
            printf("int4 %ldx%ldx%ld group %ld: product error %.3f (x 1e-6 of sum |x w|), dequantised max error %.2e\n", (long)m, (long)n, (long)k, (long)g, worst4, worstd);
            fails += worst4 > 1 || worstd > 1e-6;
        }
    }
    /* one query token over t cached tokens (fp32; 3 query heads per KV head; 1,100 tokens are split over threads) */
    const int64_t heads = 6, kvh = 2, d = 64, maxt = 1200, lengths[] = {1, 5, 1100};
    float *cache = malloc(2 * kvh * maxt * d * 4), *q = malloc(heads * d * 4), *o = malloc(heads * d * 4);
    double *p = malloc(maxt * sizeof(double));
    for (int64_t i = 0; i < 2 * kvh * maxt * d; i++) cache[i] = rnd();
    for (int64_t i = 0; i < heads * d; i++) q[i] = rnd();
    for (int c = 0; c < 3; c++) {
        const int64_t t = lengths[c];
        ponder_attend_one(q, cache, cache + kvh * maxt * d, 0, heads, kvh, t, d, maxt * d, 1.f / sqrtf((float)d), o, 2);
        double worst = 0;
        for (int64_t h = 0; h < heads; h++) {
            const float *k = cache + (h / (heads / kvh)) * maxt * d, *v = k + kvh * maxt * d;
            double mx = -1e300, sum = 0;
            for (int64_t j = 0; j < t; j++) {
                p[j] = 0;
                for (int64_t i = 0; i < d; i++) p[j] += (double)q[h * d + i] * k[j * d + i] / sqrt((double)d);
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = 0; j < t; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            for (int64_t i = 0; i < d; i++) {
                double ref = 0;
                for (int64_t j = 0; j < t; j++) ref += p[j] / sum * v[j * d + i];
                worst = fmax(worst, fabs(o[h * d + i] - ref));
            }
        }
        printf("attention over %ld tokens: max error %.2e\n", (long)t, worst);
        fails += worst > 1e-5;
    }
    /* the element-wise steps (fp32): a residual add and RMS norm, rotary embedding in place, SiLU times up */
    {
        const int64_t m = 3, hd = 100, heads = 3, rd = 10;
        float *a = malloc(m * hd * 4), *r = malloc(m * hd * 4), *w = malloc(hd * 4), *sum = malloc(m * hd * 4),
              *nout = malloc(m * hd * 4), *gu = malloc(m * 2 * hd * 4), *act = malloc(m * hd * 4);
        float rx[3 * 3 * 10], rc[3 * 10], rs[3 * 10], ro[3 * 3 * 10];
        for (int64_t i = 0; i < m * hd; i++) { a[i] = rnd(); r[i] = rnd(); }
        for (int64_t i = 0; i < hd; i++) w[i] = rnd();
        for (int64_t i = 0; i < m * 2 * hd; i++) gu[i] = rnd() * 40.f;
        for (int64_t i = 0; i < m * heads * rd; i++) rx[i] = ro[i] = rnd();
        for (int64_t i = 0; i < m * rd; i++) { rc[i] = rnd(); rs[i] = rnd(); }
        ponder_rms_norm(a, hd, r, sum, 0, w, 0, nout, m, hd, 1e-6f, 2);
        ponder_silu_mul(gu, 0, act, m, hd, 2);
        ponder_rope(ro, heads * rd, ro, heads * rd, 0, rc, rs, m, heads, rd, 2);
        double worst = 0;
        for (int64_t t = 0; t < m; t++) {
            double ss = 0;
            for (int64_t i = 0; i < hd; i++) { double v = (double)a[t * hd + i] + r[t * hd + i]; ss += v * v; }
            for (int64_t i = 0; i < hd; i++) {
                double v = (double)a[t * hd + i] + r[t * hd + i], g = gu[t * 2 * hd + i], u = gu[t * 2 * hd + hd + i];
                worst = fmax(worst, fabs(sum[t * hd + i] - v) / (fabs(v) + 1e-30) / 1e-7);
                worst = fmax(worst, fabs(nout[t * hd + i] - v / sqrt(ss / hd + 1e-6) * w[i]) / 1e-5);
                worst = fmax(worst, fabs(act[t * hd + i] - g / (1 + exp(-g)) * u) / (fabs(g * u) * 1e-6 + 1e-30));
            }
            for (int64_t h = 0; h < heads; h++)
                for (int64_t i = 0; i < rd; i++) {
                    const float *x = rx + (t * heads + h) * rd;
                    double ref = (double)x[i] * rc[t * rd + i] + (double)x[(i + rd / 2) % rd] * rs[t * rd + i];
                    worst = fmax(worst, fabs(ro[(t * heads + h) * rd + i] - ref) / 1e-6);
                }
        }
        printf("norm, rotary, silu: worst error %.3f of their bounds\n", worst);
        fails += worst > 1;
    }
    printf(fails ? "FAILED\n" : "all within bounds\n");
    return fails != 0;
}
