# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# The fused training step of the k-sparse autoencoder (default configuration:
# ReLU or linear activation, top-k by value, MSE loss, Adam). The caller
# (ksparse.training.FusedStep) computes Xc = X - b_dec and the encoder product
# Z = Xc @ W_enc.T with BLAS, then one call of _fused_step_adam does:
#
#   1. per sample (rows split between threads): Z += b_enc, top-k of Z (the top-k
#      engineer's threshold kernel _topk_row), ReLU,
#      sparse decode Xh = b_dec + sum_j val_j W_dec[idx_j], the squared error,
#      and G = 2 (Xh - X) / (B n) written over Xh;
#      and dz[b, j] = (G[b] . W_dec[idx[b, j]]) * act'(z);
#   1b. AuxK (when dead units are given): the residual e = X - Xh, the denominator
#      sum((e - mean_b e)^2), then per sample the top auxk_k dead units by pre-activation
#      reconstruct e (no bias); their decoder/encoder gradients become extra entries of
#      the inverse index below (the same math as ksparse.losses.AuxKLoss);
#   2. if the loss is finite: the firing counters (samples since each unit fired);
#   3. an inverse index latent -> (b, j) entries (counting sort, ascending);
#   4. the bias gradients: g_benc[i] = sum of dz over latent i, and
#      g_bdec = sum_b G[b] - sum_i g_benc[i] W_enc[i] (columns split between threads);
#   5. latent by latent (latents split between threads, each thread a private
#      pair of gradient rows): dW_dec[i] = sum val G[b], dW_enc[i] = sum dz Xc[b],
#      decoder gradient projected orthogonal to W_dec[i], Adam on the decoder row,
#      encoder row (first scaled by enc_decay when unit i fired in the batch: decoupled
#      weight decay) and encoder bias, decoder row scaled back to unit norm;
#   6. Adam on b_dec.
#
# Every output element is computed by one thread in a fixed order, so results do
# not depend on the number of threads. Row kernels (Adam, axpy, 4-row axpy, 4-way dot)
# use AVX when the CPU has it (run-time dispatch, no FMA) and SSE2/scalar otherwise;
# the Adam rows are bit-identical either way.

from libc.math cimport sqrt, sqrtf, NAN, INFINITY
from libc.stdint cimport int64_t
from cython.parallel cimport threadid

cdef extern from *:
    """
    /* Row helpers with restrict pointers so the compiler vectorises them. The Adam rows
       use explicit SSE2 (baseline on x86-64): the compiler will not vectorise sqrt without
       -fno-math-errno. The scalar tail does the same IEEE operations in the same order. */
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define KS_HAVE_SSE2 1
    #else
    #define KS_HAVE_SSE2 0
    #endif
    static inline void ks_adam_row_f(float *restrict w, float *restrict m, float *restrict v,
                                     const float *restrict g, long n, float b1, float b2,
                                     float c1, float s2, float eps) {
        const float a1 = 1.0f - b1, a2 = 1.0f - b2;
        long c = 0;
    #if KS_HAVE_SSE2
        const __m128 vb1 = _mm_set1_ps(b1), va1 = _mm_set1_ps(a1), vb2 = _mm_set1_ps(b2);
        const __m128 va2 = _mm_set1_ps(a2), vc1 = _mm_set1_ps(c1), vs2 = _mm_set1_ps(s2);
        const __m128 veps = _mm_set1_ps(eps);
        for (; c + 4 <= n; c += 4) {
            __m128 gc = _mm_loadu_ps(g + c);
            __m128 mm = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + c)), _mm_mul_ps(va1, gc));
            __m128 vv = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + c)), _mm_mul_ps(va2, _mm_mul_ps(gc, gc)));
            _mm_storeu_ps(m + c, mm);
            _mm_storeu_ps(v + c, vv);
            __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vv), vs2), veps);
            _mm_storeu_ps(w + c, _mm_sub_ps(_mm_loadu_ps(w + c), _mm_div_ps(_mm_mul_ps(vc1, mm), den)));
        }
    #endif
        for (; c < n; c++) {
            float gc = g[c];
            float mm = b1 * m[c] + a1 * gc;
            float vv = b2 * v[c] + a2 * (gc * gc);
            m[c] = mm; v[c] = vv;
            w[c] -= c1 * mm / (sqrtf(vv) * s2 + eps);
        }
    }
    static inline void ks_adam_row_d(double *restrict w, double *restrict m, double *restrict v,
                                     const double *restrict g, long n, double b1, double b2,
                                     double c1, double s2, double eps) {
        const double a1 = 1.0 - b1, a2 = 1.0 - b2;
        long c = 0;
    #if KS_HAVE_SSE2
        const __m128d vb1 = _mm_set1_pd(b1), va1 = _mm_set1_pd(a1), vb2 = _mm_set1_pd(b2);
        const __m128d va2 = _mm_set1_pd(a2), vc1 = _mm_set1_pd(c1), vs2 = _mm_set1_pd(s2);
        const __m128d veps = _mm_set1_pd(eps);
        for (; c + 2 <= n; c += 2) {
            __m128d gc = _mm_loadu_pd(g + c);
            __m128d mm = _mm_add_pd(_mm_mul_pd(vb1, _mm_loadu_pd(m + c)), _mm_mul_pd(va1, gc));
            __m128d vv = _mm_add_pd(_mm_mul_pd(vb2, _mm_loadu_pd(v + c)), _mm_mul_pd(va2, _mm_mul_pd(gc, gc)));
            _mm_storeu_pd(m + c, mm);
            _mm_storeu_pd(v + c, vv);
            __m128d den = _mm_add_pd(_mm_mul_pd(_mm_sqrt_pd(vv), vs2), veps);
            _mm_storeu_pd(w + c, _mm_sub_pd(_mm_loadu_pd(w + c), _mm_div_pd(_mm_mul_pd(vc1, mm), den)));
        }
    #endif
        for (; c < n; c++) {
            double gc = g[c];
            double mm = b1 * m[c] + a1 * gc;
            double vv = b2 * v[c] + a2 * (gc * gc);
            m[c] = mm; v[c] = vv;
            w[c] -= c1 * mm / (sqrt(vv) * s2 + eps);
        }
    }
    /* Adam with a zero gradient (a latent no sample chose): the same update with g = 0. */
    static inline void ks_adam_row0_f(float *restrict w, float *restrict m, float *restrict v,
                                      long n, float b1, float b2, float c1, float s2, float eps) {
        long c = 0;
    #if KS_HAVE_SSE2
        const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), vc1 = _mm_set1_ps(c1);
        const __m128 vs2 = _mm_set1_ps(s2), veps = _mm_set1_ps(eps), zero = _mm_setzero_ps();
        const __m128 va1 = _mm_set1_ps(1.0f - b1), va2 = _mm_set1_ps(1.0f - b2);
        for (; c + 4 <= n; c += 4) {
            __m128 mm = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + c)), _mm_mul_ps(va1, zero));
            __m128 vv = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + c)), _mm_mul_ps(va2, zero));
            _mm_storeu_ps(m + c, mm);
            _mm_storeu_ps(v + c, vv);
            __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vv), vs2), veps);
            _mm_storeu_ps(w + c, _mm_sub_ps(_mm_loadu_ps(w + c), _mm_div_ps(_mm_mul_ps(vc1, mm), den)));
        }
    #endif
        for (; c < n; c++) {
            float mm = b1 * m[c] + (1.0f - b1) * 0.0f;
            float vv = b2 * v[c] + (1.0f - b2) * 0.0f;
            m[c] = mm; v[c] = vv;
            w[c] -= c1 * mm / (sqrtf(vv) * s2 + eps);
        }
    }
    static inline void ks_adam_row0_d(double *restrict w, double *restrict m, double *restrict v,
                                      long n, double b1, double b2, double c1, double s2, double eps) {
        long c = 0;
    #if KS_HAVE_SSE2
        const __m128d vb1 = _mm_set1_pd(b1), vb2 = _mm_set1_pd(b2), vc1 = _mm_set1_pd(c1);
        const __m128d vs2 = _mm_set1_pd(s2), veps = _mm_set1_pd(eps);
        for (; c + 2 <= n; c += 2) {
            __m128d mm = _mm_mul_pd(vb1, _mm_loadu_pd(m + c));
            __m128d vv = _mm_mul_pd(vb2, _mm_loadu_pd(v + c));
            _mm_storeu_pd(m + c, mm);
            _mm_storeu_pd(v + c, vv);
            __m128d den = _mm_add_pd(_mm_mul_pd(_mm_sqrt_pd(vv), vs2), veps);
            _mm_storeu_pd(w + c, _mm_sub_pd(_mm_loadu_pd(w + c), _mm_div_pd(_mm_mul_pd(vc1, mm), den)));
        }
    #endif
        for (; c < n; c++) {
            double mm = b1 * m[c];
            double vv = b2 * v[c];
            m[c] = mm; v[c] = vv;
            w[c] -= c1 * mm / (sqrt(vv) * s2 + eps);
        }
    }
    static inline void ks_scale_f(float *restrict y, float a, long n) {
        for (long c = 0; c < n; c++) y[c] *= a;
    }
    static inline void ks_scale_d(double *restrict y, double a, long n) {
        for (long c = 0; c < n; c++) y[c] *= a;
    }
    static inline void ks_add_f(float *restrict y, const float *restrict x, long n) {
        for (long c = 0; c < n; c++) y[c] += x[c];
    }
    static inline void ks_add_d(double *restrict y, const double *restrict x, long n) {
        for (long c = 0; c < n; c++) y[c] += x[c];
    }
    /* axpy and dot: AVX when the CPU has it (chosen at run time), else plain C that
       the compiler vectorises with SSE2. axpy does the same IEEE operations either way. */
    #if defined(__GNUC__) && defined(__x86_64__)
    #include <immintrin.h>
    #define KS_AVX_DISPATCH 1
    static int ks_cpu_avx = 0;
    static void ks_detect_cpu(void) {
        __builtin_cpu_init();
        ks_cpu_avx = __builtin_cpu_supports("avx") ? 1 : 0;
    }
    __attribute__((target("avx")))
    static void ks_axpy_f_avx(float *restrict y, const float *restrict x, float a, long n) {
        const __m256 va = _mm256_set1_ps(a);
        long c = 0;
        for (; c + 8 <= n; c += 8)
            _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(y + c), _mm256_mul_ps(va, _mm256_loadu_ps(x + c))));
        for (; c < n; c++) y[c] += a * x[c];
    }
    __attribute__((target("avx")))
    static void ks_axpy_d_avx(double *restrict y, const double *restrict x, double a, long n) {
        const __m256d va = _mm256_set1_pd(a);
        long c = 0;
        for (; c + 4 <= n; c += 4)
            _mm256_storeu_pd(y + c, _mm256_add_pd(_mm256_loadu_pd(y + c), _mm256_mul_pd(va, _mm256_loadu_pd(x + c))));
        for (; c < n; c++) y[c] += a * x[c];
    }
    __attribute__((target("avx")))
    static float ks_dot_f_avx(const float *restrict x, const float *restrict y, long n) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        long c = 0;
        for (; c + 16 <= n; c += 16) {
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(y + c)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_loadu_ps(x + c + 8), _mm256_loadu_ps(y + c + 8)));
        }
        for (; c + 8 <= n; c += 8)
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(y + c)));
        float b[8];
        _mm256_storeu_ps(b, _mm256_add_ps(s0, s1));
        float r = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
        for (; c < n; c++) r += x[c] * y[c];
        return r;
    }
    __attribute__((target("avx")))
    static double ks_dot_d_avx(const double *restrict x, const double *restrict y, long n) {
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_loadu_pd(x + c), _mm256_loadu_pd(y + c)));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(_mm256_loadu_pd(x + c + 4), _mm256_loadu_pd(y + c + 4)));
        }
        for (; c + 4 <= n; c += 4)
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_loadu_pd(x + c), _mm256_loadu_pd(y + c)));
        double b[4];
        _mm256_storeu_pd(b, _mm256_add_pd(s0, s1));
        double r = (b[0] + b[1]) + (b[2] + b[3]);
        for (; c < n; c++) r += x[c] * y[c];
        return r;
    }
    /* Adam rows 8 (4) wide: the same IEEE operations in the same order per element as the
       SSE2 and scalar code (no FMA), so the results are bit-identical to theirs. */
    __attribute__((target("avx")))
    static void ks_adam_row_f_avx(float *restrict w, float *restrict m, float *restrict v,
                                  const float *restrict g, long n, float b1, float b2,
                                  float c1, float s2, float eps) {
        const float a1 = 1.0f - b1, a2 = 1.0f - b2;
        const __m256 vb1 = _mm256_set1_ps(b1), va1 = _mm256_set1_ps(a1), vb2 = _mm256_set1_ps(b2);
        const __m256 va2 = _mm256_set1_ps(a2), vc1 = _mm256_set1_ps(c1), vs2 = _mm256_set1_ps(s2);
        const __m256 veps = _mm256_set1_ps(eps), zero = _mm256_setzero_ps();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 gc = g ? _mm256_loadu_ps(g + c) : zero;
            __m256 mm = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + c)), _mm256_mul_ps(va1, gc));
            __m256 vv = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + c)), _mm256_mul_ps(va2, _mm256_mul_ps(gc, gc)));
            _mm256_storeu_ps(m + c, mm);
            _mm256_storeu_ps(v + c, vv);
            __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vv), vs2), veps);
            _mm256_storeu_ps(w + c, _mm256_sub_ps(_mm256_loadu_ps(w + c), _mm256_div_ps(_mm256_mul_ps(vc1, mm), den)));
        }
        for (; c < n; c++) {
            float gc = g ? g[c] : 0.0f;
            float mm = b1 * m[c] + a1 * gc;
            float vv = b2 * v[c] + a2 * (gc * gc);
            m[c] = mm; v[c] = vv;
            w[c] -= c1 * mm / (sqrtf(vv) * s2 + eps);
        }
    }
    __attribute__((target("avx")))
    static void ks_adam_row_d_avx(double *restrict w, double *restrict m, double *restrict v,
                                  const double *restrict g, long n, double b1, double b2,
                                  double c1, double s2, double eps) {
        const double a1 = 1.0 - b1, a2 = 1.0 - b2;
        const __m256d vb1 = _mm256_set1_pd(b1), va1 = _mm256_set1_pd(a1), vb2 = _mm256_set1_pd(b2);
        const __m256d va2 = _mm256_set1_pd(a2), vc1 = _mm256_set1_pd(c1), vs2 = _mm256_set1_pd(s2);
        const __m256d veps = _mm256_set1_pd(eps);
        long c = 0;
        if (g) {
            for (; c + 4 <= n; c += 4) {
                __m256d gc = _mm256_loadu_pd(g + c);
                __m256d mm = _mm256_add_pd(_mm256_mul_pd(vb1, _mm256_loadu_pd(m + c)), _mm256_mul_pd(va1, gc));
                __m256d vv = _mm256_add_pd(_mm256_mul_pd(vb2, _mm256_loadu_pd(v + c)), _mm256_mul_pd(va2, _mm256_mul_pd(gc, gc)));
                _mm256_storeu_pd(m + c, mm);
                _mm256_storeu_pd(v + c, vv);
                __m256d den = _mm256_add_pd(_mm256_mul_pd(_mm256_sqrt_pd(vv), vs2), veps);
                _mm256_storeu_pd(w + c, _mm256_sub_pd(_mm256_loadu_pd(w + c), _mm256_div_pd(_mm256_mul_pd(vc1, mm), den)));
            }
            for (; c < n; c++) {
                double gc = g[c];
                double mm = b1 * m[c] + a1 * gc;
                double vv = b2 * v[c] + a2 * (gc * gc);
                m[c] = mm; v[c] = vv;
                w[c] -= c1 * mm / (sqrt(vv) * s2 + eps);
            }
        } else {
            /* the same operations as ks_adam_row0_d */
            for (; c + 4 <= n; c += 4) {
                __m256d mm = _mm256_mul_pd(vb1, _mm256_loadu_pd(m + c));
                __m256d vv = _mm256_mul_pd(vb2, _mm256_loadu_pd(v + c));
                _mm256_storeu_pd(m + c, mm);
                _mm256_storeu_pd(v + c, vv);
                __m256d den = _mm256_add_pd(_mm256_mul_pd(_mm256_sqrt_pd(vv), vs2), veps);
                _mm256_storeu_pd(w + c, _mm256_sub_pd(_mm256_loadu_pd(w + c), _mm256_div_pd(_mm256_mul_pd(vc1, mm), den)));
            }
            for (; c < n; c++) {
                double mm = b1 * m[c];
                double vv = b2 * v[c];
                m[c] = mm; v[c] = vv;
                w[c] -= c1 * mm / (sqrt(vv) * s2 + eps);
            }
        }
    }
    /* y += (a0 x0 + a1 x1) + (a2 x2 + a3 x3): four rows per pass over y (a quarter of the
       loads and stores of y); the scalar version does the same operations in the same order. */
    __attribute__((target("avx")))
    static void ks_axpy4_f_avx(float *restrict y, const float *x0, const float *x1, const float *x2,
                               const float *x3, float a0, float a1, float a2, float a3, long n) {
        const __m256 v0 = _mm256_set1_ps(a0), v1 = _mm256_set1_ps(a1), v2 = _mm256_set1_ps(a2), v3 = _mm256_set1_ps(a3);
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 s01 = _mm256_add_ps(_mm256_mul_ps(v0, _mm256_loadu_ps(x0 + c)), _mm256_mul_ps(v1, _mm256_loadu_ps(x1 + c)));
            __m256 s23 = _mm256_add_ps(_mm256_mul_ps(v2, _mm256_loadu_ps(x2 + c)), _mm256_mul_ps(v3, _mm256_loadu_ps(x3 + c)));
            _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(y + c), _mm256_add_ps(s01, s23)));
        }
        for (; c < n; c++) y[c] += (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    __attribute__((target("avx")))
    static void ks_axpy4_d_avx(double *restrict y, const double *x0, const double *x1, const double *x2,
                               const double *x3, double a0, double a1, double a2, double a3, long n) {
        const __m256d v0 = _mm256_set1_pd(a0), v1 = _mm256_set1_pd(a1), v2 = _mm256_set1_pd(a2), v3 = _mm256_set1_pd(a3);
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            __m256d s01 = _mm256_add_pd(_mm256_mul_pd(v0, _mm256_loadu_pd(x0 + c)), _mm256_mul_pd(v1, _mm256_loadu_pd(x1 + c)));
            __m256d s23 = _mm256_add_pd(_mm256_mul_pd(v2, _mm256_loadu_pd(x2 + c)), _mm256_mul_pd(v3, _mm256_loadu_pd(x3 + c)));
            _mm256_storeu_pd(y + c, _mm256_add_pd(_mm256_loadu_pd(y + c), _mm256_add_pd(s01, s23)));
        }
        for (; c < n; c++) y[c] += (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    /* four dot products against one shared vector x (x loaded once per 8 elements) */
    __attribute__((target("avx")))
    static void ks_dot4_f_avx(const float *restrict x, const float *y0, const float *y1, const float *y2,
                              const float *y3, long n, float *out) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 xc = _mm256_loadu_ps(x + c);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(xc, _mm256_loadu_ps(y0 + c)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(xc, _mm256_loadu_ps(y1 + c)));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(xc, _mm256_loadu_ps(y2 + c)));
            s3 = _mm256_add_ps(s3, _mm256_mul_ps(xc, _mm256_loadu_ps(y3 + c)));
        }
        float b[32];
        _mm256_storeu_ps(b, s0); _mm256_storeu_ps(b + 8, s1);
        _mm256_storeu_ps(b + 16, s2); _mm256_storeu_ps(b + 24, s3);
        const float *ys[4] = {y0, y1, y2, y3};
        for (int q = 0; q < 4; q++) {
            const float *p = b + 8 * q;
            float r = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
            for (long t = c; t < n; t++) r += x[t] * ys[q][t];
            out[q] = r;
        }
    }
    __attribute__((target("avx")))
    static void ks_dot4_d_avx(const double *restrict x, const double *y0, const double *y1, const double *y2,
                              const double *y3, long n, double *out) {
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            __m256d xc = _mm256_loadu_pd(x + c);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(xc, _mm256_loadu_pd(y0 + c)));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(xc, _mm256_loadu_pd(y1 + c)));
            s2 = _mm256_add_pd(s2, _mm256_mul_pd(xc, _mm256_loadu_pd(y2 + c)));
            s3 = _mm256_add_pd(s3, _mm256_mul_pd(xc, _mm256_loadu_pd(y3 + c)));
        }
        double b[16];
        _mm256_storeu_pd(b, s0); _mm256_storeu_pd(b + 4, s1);
        _mm256_storeu_pd(b + 8, s2); _mm256_storeu_pd(b + 12, s3);
        const double *ys[4] = {y0, y1, y2, y3};
        for (int q = 0; q < 4; q++) {
            const double *p = b + 4 * q;
            double r = (p[0] + p[1]) + (p[2] + p[3]);
            for (long t = c; t < n; t++) r += x[t] * ys[q][t];
            out[q] = r;
        }
    }
    /* y = (a0 x0 + a1 x1) + (a2 x2 + a3 x3): the first pass over a fresh gradient row */
    __attribute__((target("avx")))
    static void ks_set4_f_avx(float *restrict y, const float *x0, const float *x1, const float *x2,
                              const float *x3, float a0, float a1, float a2, float a3, long n) {
        const __m256 v0 = _mm256_set1_ps(a0), v1 = _mm256_set1_ps(a1), v2 = _mm256_set1_ps(a2), v3 = _mm256_set1_ps(a3);
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 s01 = _mm256_add_ps(_mm256_mul_ps(v0, _mm256_loadu_ps(x0 + c)), _mm256_mul_ps(v1, _mm256_loadu_ps(x1 + c)));
            __m256 s23 = _mm256_add_ps(_mm256_mul_ps(v2, _mm256_loadu_ps(x2 + c)), _mm256_mul_ps(v3, _mm256_loadu_ps(x3 + c)));
            _mm256_storeu_ps(y + c, _mm256_add_ps(s01, s23));
        }
        for (; c < n; c++) y[c] = (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    __attribute__((target("avx")))
    static void ks_set4_d_avx(double *restrict y, const double *x0, const double *x1, const double *x2,
                              const double *x3, double a0, double a1, double a2, double a3, long n) {
        const __m256d v0 = _mm256_set1_pd(a0), v1 = _mm256_set1_pd(a1), v2 = _mm256_set1_pd(a2), v3 = _mm256_set1_pd(a3);
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            __m256d s01 = _mm256_add_pd(_mm256_mul_pd(v0, _mm256_loadu_pd(x0 + c)), _mm256_mul_pd(v1, _mm256_loadu_pd(x1 + c)));
            __m256d s23 = _mm256_add_pd(_mm256_mul_pd(v2, _mm256_loadu_pd(x2 + c)), _mm256_mul_pd(v3, _mm256_loadu_pd(x3 + c)));
            _mm256_storeu_pd(y + c, _mm256_add_pd(s01, s23));
        }
        for (; c < n; c++) y[c] = (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    /* Squared error and scaled difference of one sample: g = scale (g - x), returns
       sum (g - x)^2 in double (the float differences widened before squaring). */
    __attribute__((target("avx")))
    static double ks_sqerr_f_avx(float *restrict g, const float *restrict x, long n, float scale) {
        const __m256 vs = _mm256_set1_ps(scale);
        __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(g + c), _mm256_loadu_ps(x + c));
            __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(d));
            __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(lo, lo));
            a1 = _mm256_add_pd(a1, _mm256_mul_pd(hi, hi));
            _mm256_storeu_ps(g + c, _mm256_mul_ps(vs, d));
        }
        double t[4];
        _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
        double err = (t[0] + t[1]) + (t[2] + t[3]);
        for (; c < n; c++) {
            double d = (double)(g[c] - x[c]);
            err += d * d;
            g[c] = scale * (g[c] - x[c]);
        }
        return err;
    }
    __attribute__((target("avx")))
    static double ks_sqerr_d_avx(double *restrict g, const double *restrict x, long n, double scale) {
        const __m256d vs = _mm256_set1_pd(scale);
        __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256d d0 = _mm256_sub_pd(_mm256_loadu_pd(g + c), _mm256_loadu_pd(x + c));
            __m256d d1 = _mm256_sub_pd(_mm256_loadu_pd(g + c + 4), _mm256_loadu_pd(x + c + 4));
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(d0, d0));
            a1 = _mm256_add_pd(a1, _mm256_mul_pd(d1, d1));
            _mm256_storeu_pd(g + c, _mm256_mul_pd(vs, d0));
            _mm256_storeu_pd(g + c + 4, _mm256_mul_pd(vs, d1));
        }
        double t[4];
        _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
        double err = (t[0] + t[1]) + (t[2] + t[3]);
        for (; c < n; c++) {
            double d = g[c] - x[c];
            err += d * d;
            g[c] = scale * d;
        }
        return err;
    }
    /* The same with the reconstruction clipped to [lo, hi] (the estimator's output_bounds):
       h = min(hi, max(lo, g)) (a NaN g stays NaN), err = sum (h - x)^2, g = scale (h - x)
       where lo <= g <= hi and 0 where the clip is active (its derivative), and, when resid
       is not NULL, resid = x - h. */
    __attribute__((target("avx")))
    static double ks_sqerr_clip_f_avx(float *restrict g, const float *restrict x, float *restrict resid,
                                      long n, float scale, float lo, float hi) {
        const __m256 vs = _mm256_set1_ps(scale), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
        __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 h = _mm256_loadu_ps(g + c);
            __m256 hc = _mm256_min_ps(vhi, _mm256_max_ps(vlo, h));   /* NaN h passes through */
            __m256 xc = _mm256_loadu_ps(x + c);
            __m256 d = _mm256_sub_ps(hc, xc);
            __m256d dl = _mm256_cvtps_pd(_mm256_castps256_ps128(d));
            __m256d dh = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(dl, dl));
            a1 = _mm256_add_pd(a1, _mm256_mul_pd(dh, dh));
            __m256 inside = _mm256_cmp_ps(h, hc, _CMP_EQ_OQ);
            _mm256_storeu_ps(g + c, _mm256_and_ps(inside, _mm256_mul_ps(vs, d)));
            if (resid) _mm256_storeu_ps(resid + c, _mm256_sub_ps(xc, hc));
        }
        double t[4];
        _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
        double err = (t[0] + t[1]) + (t[2] + t[3]);
        for (; c < n; c++) {
            float h = g[c];
            float hc = h < lo ? lo : (h > hi ? hi : h);
            float d = hc - x[c];
            err += (double)d * d;
            g[c] = (h == hc) ? scale * d : 0.0f;
            if (resid) resid[c] = x[c] - hc;
        }
        return err;
    }
    __attribute__((target("avx")))
    static double ks_sqerr_clip_d_avx(double *restrict g, const double *restrict x, double *restrict resid,
                                      long n, double scale, double lo, double hi) {
        const __m256d vs = _mm256_set1_pd(scale), vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi);
        __m256d a0 = _mm256_setzero_pd();
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            __m256d h = _mm256_loadu_pd(g + c);
            __m256d hc = _mm256_min_pd(vhi, _mm256_max_pd(vlo, h));
            __m256d xc = _mm256_loadu_pd(x + c);
            __m256d d = _mm256_sub_pd(hc, xc);
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(d, d));
            __m256d inside = _mm256_cmp_pd(h, hc, _CMP_EQ_OQ);
            _mm256_storeu_pd(g + c, _mm256_and_pd(inside, _mm256_mul_pd(vs, d)));
            if (resid) _mm256_storeu_pd(resid + c, _mm256_sub_pd(xc, hc));
        }
        double t[4];
        _mm256_storeu_pd(t, a0);
        double err = (t[0] + t[1]) + (t[2] + t[3]);
        for (; c < n; c++) {
            double h = g[c];
            double hc = h < lo ? lo : (h > hi ? hi : h);
            double d = hc - x[c];
            err += d * d;
            g[c] = (h == hc) ? scale * d : 0.0;
            if (resid) resid[c] = x[c] - hc;
        }
        return err;
    }
    __attribute__((target("avx")))
    static void ks_scale_f_avx(float *restrict y, float a, long n) {
        const __m256 va = _mm256_set1_ps(a);
        long c = 0;
        for (; c + 8 <= n; c += 8) _mm256_storeu_ps(y + c, _mm256_mul_ps(va, _mm256_loadu_ps(y + c)));
        for (; c < n; c++) y[c] *= a;
    }
    __attribute__((target("avx")))
    static void ks_add_f_avx(float *restrict y, const float *restrict x, long n) {
        long c = 0;
        for (; c + 8 <= n; c += 8) _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(y + c), _mm256_loadu_ps(x + c)));
        for (; c < n; c++) y[c] += x[c];
    }
    static int ks_set_avx(int on) {
        __builtin_cpu_init();
        ks_cpu_avx = (on && __builtin_cpu_supports("avx")) ? 1 : 0;
        return ks_cpu_avx;
    }
    #else
    #define KS_AVX_DISPATCH 0
    static int ks_cpu_avx = 0;
    static void ks_detect_cpu(void) {}
    static int ks_set_avx(int on) { (void)on; return 0; }
    #endif
    static inline double ks_sqerr_f(float *restrict g, const float *restrict x, long n, float scale) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_sqerr_f_avx(g, x, n, scale);
    #endif
        /* four partial sums in a fixed order */
        double e0 = 0.0, e1 = 0.0, e2 = 0.0, e3 = 0.0;
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            float d0 = g[c] - x[c], d1 = g[c + 1] - x[c + 1], d2 = g[c + 2] - x[c + 2], d3 = g[c + 3] - x[c + 3];
            e0 += (double)d0 * d0; e1 += (double)d1 * d1; e2 += (double)d2 * d2; e3 += (double)d3 * d3;
            g[c] = scale * d0; g[c + 1] = scale * d1; g[c + 2] = scale * d2; g[c + 3] = scale * d3;
        }
        double err = (e0 + e1) + (e2 + e3);
        for (; c < n; c++) {
            float d = g[c] - x[c];
            err += (double)d * d;
            g[c] = scale * d;
        }
        return err;
    }
    static inline double ks_sqerr_d(double *restrict g, const double *restrict x, long n, double scale) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_sqerr_d_avx(g, x, n, scale);
    #endif
        double e0 = 0.0, e1 = 0.0, e2 = 0.0, e3 = 0.0;
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            double d0 = g[c] - x[c], d1 = g[c + 1] - x[c + 1], d2 = g[c + 2] - x[c + 2], d3 = g[c + 3] - x[c + 3];
            e0 += d0 * d0; e1 += d1 * d1; e2 += d2 * d2; e3 += d3 * d3;
            g[c] = scale * d0; g[c + 1] = scale * d1; g[c + 2] = scale * d2; g[c + 3] = scale * d3;
        }
        double err = (e0 + e1) + (e2 + e3);
        for (; c < n; c++) {
            double d = g[c] - x[c];
            err += d * d;
            g[c] = scale * d;
        }
        return err;
    }
    /* Portable clipped squared error (see ks_sqerr_clip_f_avx). */
    #define KS_SQERR_CLIP_BODY(T)                                                   \
        double err = 0.0;                                                           \
        for (long c = 0; c < n; c++) {                                              \
            T h = g[c];                                                             \
            T hc = h < lo ? lo : (h > hi ? hi : h);                                 \
            T d = hc - x[c];                                                        \
            err += (double)d * d;                                                   \
            g[c] = (h == hc) ? scale * d : (T)0;                                    \
            if (resid) resid[c] = x[c] - hc;                                        \
        }                                                                           \
        return err;
    static inline double ks_sqerr_clip_f(float *restrict g, const float *restrict x, float *restrict resid,
                                         long n, float scale, float lo, float hi) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_sqerr_clip_f_avx(g, x, resid, n, scale, lo, hi);
    #endif
        KS_SQERR_CLIP_BODY(float)
    }
    static inline double ks_sqerr_clip_d(double *restrict g, const double *restrict x, double *restrict resid,
                                         long n, double scale, double lo, double hi) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_sqerr_clip_d_avx(g, x, resid, n, scale, lo, hi);
    #endif
        KS_SQERR_CLIP_BODY(double)
    }
    static inline void ks_scale_f_fast(float *restrict y, float a, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_scale_f_avx(y, a, n); return; }
    #endif
        ks_scale_f(y, a, n);
    }
    static inline void ks_add_f_fast(float *restrict y, const float *restrict x, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_add_f_avx(y, x, n); return; }
    #endif
        ks_add_f(y, x, n);
    }
    static inline void ks_axpy4_f(float *restrict y, const float *x0, const float *x1, const float *x2,
                                  const float *x3, float a0, float a1, float a2, float a3, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_axpy4_f_avx(y, x0, x1, x2, x3, a0, a1, a2, a3, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] += (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    static inline void ks_axpy4_d(double *restrict y, const double *x0, const double *x1, const double *x2,
                                  const double *x3, double a0, double a1, double a2, double a3, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_axpy4_d_avx(y, x0, x1, x2, x3, a0, a1, a2, a3, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] += (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    static inline void ks_adam_f(float *w, float *m, float *v, const float *g, long n,
                                 float b1, float b2, float c1, float s2, float eps) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_adam_row_f_avx(w, m, v, g, n, b1, b2, c1, s2, eps); return; }
    #endif
        if (g) ks_adam_row_f(w, m, v, g, n, b1, b2, c1, s2, eps);
        else ks_adam_row0_f(w, m, v, n, b1, b2, c1, s2, eps);
    }
    static inline void ks_adam_d(double *w, double *m, double *v, const double *g, long n,
                                 double b1, double b2, double c1, double s2, double eps) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_adam_row_d_avx(w, m, v, g, n, b1, b2, c1, s2, eps); return; }
    #endif
        if (g) ks_adam_row_d(w, m, v, g, n, b1, b2, c1, s2, eps);
        else ks_adam_row0_d(w, m, v, n, b1, b2, c1, s2, eps);
    }
    static inline void ks_axpy_f(float *restrict y, const float *restrict x, float a, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_axpy_f_avx(y, x, a, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] += a * x[c];
    }
    static inline void ks_axpy_d(double *restrict y, const double *restrict x, double a, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_axpy_d_avx(y, x, a, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] += a * x[c];
    }
    static inline float ks_dot_f(const float *restrict x, const float *restrict y, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_dot_f_avx(x, y, n);
    #endif
        /* four partial sums: a fixed order, vectorisable without -ffast-math */
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            s0 += x[c] * y[c]; s1 += x[c + 1] * y[c + 1];
            s2 += x[c + 2] * y[c + 2]; s3 += x[c + 3] * y[c + 3];
        }
        for (; c < n; c++) s0 += x[c] * y[c];
        return (s0 + s1) + (s2 + s3);
    }
    static inline double ks_dot_d(const double *restrict x, const double *restrict y, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) return ks_dot_d_avx(x, y, n);
    #endif
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        long c = 0;
        for (; c + 4 <= n; c += 4) {
            s0 += x[c] * y[c]; s1 += x[c + 1] * y[c + 1];
            s2 += x[c + 2] * y[c + 2]; s3 += x[c + 3] * y[c + 3];
        }
        for (; c < n; c++) s0 += x[c] * y[c];
        return (s0 + s1) + (s2 + s3);
    }
    static inline void ks_dot4_f(const float *x, const float *y0, const float *y1, const float *y2,
                                 const float *y3, long n, float *out) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_dot4_f_avx(x, y0, y1, y2, y3, n, out); return; }
    #endif
        out[0] = ks_dot_f(x, y0, n); out[1] = ks_dot_f(x, y1, n);
        out[2] = ks_dot_f(x, y2, n); out[3] = ks_dot_f(x, y3, n);
    }
    static inline void ks_dot4_d(const double *x, const double *y0, const double *y1, const double *y2,
                                 const double *y3, long n, double *out) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_dot4_d_avx(x, y0, y1, y2, y3, n, out); return; }
    #endif
        out[0] = ks_dot_d(x, y0, n); out[1] = ks_dot_d(x, y1, n);
        out[2] = ks_dot_d(x, y2, n); out[3] = ks_dot_d(x, y3, n);
    }
    static inline void ks_set4_f(float *restrict y, const float *x0, const float *x1, const float *x2,
                                 const float *x3, float a0, float a1, float a2, float a3, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_set4_f_avx(y, x0, x1, x2, x3, a0, a1, a2, a3, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] = (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    static inline void ks_set4_d(double *restrict y, const double *x0, const double *x1, const double *x2,
                                 const double *x3, double a0, double a1, double a2, double a3, long n) {
    #if KS_AVX_DISPATCH
        if (ks_cpu_avx) { ks_set4_d_avx(y, x0, x1, x2, x3, a0, a1, a2, a3, n); return; }
    #endif
        for (long c = 0; c < n; c++) y[c] = (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    """
    void ks_adam_row_f(float* w, float* m, float* v, const float* g, long n, float b1, float b2, float c1, float s2, float eps) noexcept nogil
    void ks_adam_row_d(double* w, double* m, double* v, const double* g, long n, double b1, double b2, double c1, double s2, double eps) noexcept nogil
    void ks_adam_row0_f(float* w, float* m, float* v, long n, float b1, float b2, float c1, float s2, float eps) noexcept nogil
    void ks_adam_row0_d(double* w, double* m, double* v, long n, double b1, double b2, double c1, double s2, double eps) noexcept nogil
    void ks_detect_cpu() noexcept nogil
    int ks_set_avx(int on) noexcept nogil
    void ks_set4_f(float* y, const float* x0, const float* x1, const float* x2, const float* x3, float a0, float a1, float a2, float a3, long n) noexcept nogil
    void ks_set4_d(double* y, const double* x0, const double* x1, const double* x2, const double* x3, double a0, double a1, double a2, double a3, long n) noexcept nogil
    void ks_dot4_f(const float* x, const float* y0, const float* y1, const float* y2, const float* y3, long n, float* out) noexcept nogil
    void ks_dot4_d(const double* x, const double* y0, const double* y1, const double* y2, const double* y3, long n, double* out) noexcept nogil
    void ks_axpy4_f(float* y, const float* x0, const float* x1, const float* x2, const float* x3, float a0, float a1, float a2, float a3, long n) noexcept nogil
    void ks_axpy4_d(double* y, const double* x0, const double* x1, const double* x2, const double* x3, double a0, double a1, double a2, double a3, long n) noexcept nogil
    void ks_adam_f(float* w, float* m, float* v, const float* g, long n, float b1, float b2, float c1, float s2, float eps) noexcept nogil
    void ks_adam_d(double* w, double* m, double* v, const double* g, long n, double b1, double b2, double c1, double s2, double eps) noexcept nogil
    int ks_cpu_avx
    void ks_scale_f(float* y, float a, long n) noexcept nogil
    void ks_scale_d(double* y, double a, long n) noexcept nogil
    void ks_add_f(float* y, const float* x, long n) noexcept nogil
    void ks_add_d(double* y, const double* x, long n) noexcept nogil
    double ks_sqerr_f(float* g, const float* x, long n, float scale) noexcept nogil
    double ks_sqerr_d(double* g, const double* x, long n, double scale) noexcept nogil
    double ks_sqerr_clip_f(float* g, const float* x, float* resid, long n, float scale, float lo, float hi) noexcept nogil
    double ks_sqerr_clip_d(double* g, const double* x, double* resid, long n, double scale, double lo, double hi) noexcept nogil
    void ks_scale_f_fast(float* y, float a, long n) noexcept nogil
    void ks_add_f_fast(float* y, const float* x, long n) noexcept nogil
    void ks_axpy_f(float* y, const float* x, float a, long n) noexcept nogil
    void ks_axpy_d(double* y, const double* x, double a, long n) noexcept nogil
    float ks_dot_f(const float* x, const float* y, long n) noexcept nogil
    double ks_dot_d(const double* x, const double* y, long n) noexcept nogil


cdef inline void _st_axpy(floating* y, const floating* x, floating a, Py_ssize_t n) noexcept nogil:
    if floating is float:
        ks_axpy_f(y, x, a, n)
    else:
        ks_axpy_d(y, x, a, n)


ks_detect_cpu()


def _step_uses_avx():
    """True when the fused step's row kernels use AVX on this CPU (chosen at import)."""
    return bool(ks_cpu_avx)


def _step_topk_scratch_bytes(Py_ssize_t m, Py_ssize_t itemsize, int n_threads):
    """Bytes of the fused step's top-k scratch (``tkscratch``) for m units and n_threads threads."""
    return max(1, n_threads) * _scratch_bytes(m, itemsize) + 64


def _step_set_avx(on):
    """Turn the fused step's AVX row kernels on (when the CPU has AVX) or off; return the new state.

    For tests: the AVX and SSE2/scalar paths must give bit-identical Adam updates.
    """
    return bool(ks_set_avx(1 if on else 0))


cdef inline void _st_axpy4(floating* y, const floating** xs, const floating* a, Py_ssize_t n) noexcept nogil:
    if floating is float:
        ks_axpy4_f(y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3], n)
    else:
        ks_axpy4_d(y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3], n)


cdef inline void _st_flush4(floating* y, const floating** xs, const floating* a, Py_ssize_t n,
                            int* fresh) noexcept nogil:
    """y += the four rows' combination, or y = it when y has not been written yet."""
    if fresh[0]:
        if floating is float:
            ks_set4_f(y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3], n)
        else:
            ks_set4_d(y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3], n)
        fresh[0] = 0
    else:
        _st_axpy4(y, xs, a, n)


cdef inline void _st_flush_tail(floating* y, const floating** xs, floating* a, int nq, Py_ssize_t n,
                                int fresh) noexcept nogil:
    """The last (< 4) rows; a row never written is zeroed first. Two or three rows go in
    one 4-row pass (the missing rows repeat row 0 with coefficient 0), not one pass each."""
    cdef Py_ssize_t c
    cdef int t
    if nq >= 2:
        for t in range(nq, 4):
            xs[t] = xs[0]
            a[t] = 0
        _st_flush4(y, xs, a, n, &fresh)
        return
    if fresh:
        for c in range(n):
            y[c] = 0
    for t in range(nq):
        _st_axpy(y, xs[t], a[t], n)


cdef inline void _st_gather_axpy(floating* y, const floating* W, Py_ssize_t ldw, Py_ssize_t off,
                                 const int64_t* rows, const floating* coef, Py_ssize_t cnt,
                                 floating sign, Py_ssize_t n) noexcept nogil:
    """y[0:n] += sum_j sign * coef[j] * W[rows[j] * ldw + off : ... + n] (rows NULL: row j),
    zero coefficients skipped, four rows per pass (the last 2-3 in one padded pass, as
    _st_flush_tail), in a fixed order."""
    cdef const floating* q[4]
    cdef floating a4[4]
    cdef int nq = 0
    cdef Py_ssize_t j, r
    cdef floating a
    for j in range(cnt):
        a = coef[j]
        if a != 0:
            r = rows[j] if rows != NULL else j
            q[nq] = W + r * ldw + off
            a4[nq] = sign * a
            nq += 1
            if nq == 4:
                _st_axpy4(y, q, a4, n)
                nq = 0
    _st_flush_tail(y, q, a4, nq, n, 0)


cdef inline void _st_code_grads(const floating* g, const floating* W, const int64_t* rows,
                                const floating* vals, floating* out, Py_ssize_t cnt, int relu,
                                Py_ssize_t n) noexcept nogil:
    """out[j] = g . W[rows[j]] (0 where relu and vals[j] <= 0), four rows per pass over g."""
    cdef const floating* q[4]
    cdef Py_ssize_t slot[4]
    cdef floating r4[4]
    cdef int nq = 0, t
    cdef Py_ssize_t j
    for j in range(cnt):
        if relu and not (vals[j] > 0):
            out[j] = 0
            continue
        q[nq] = W + rows[j] * n
        slot[nq] = j
        nq += 1
        if nq == 4:
            if floating is float:
                ks_dot4_f(g, q[0], q[1], q[2], q[3], n, r4)
            else:
                ks_dot4_d(g, q[0], q[1], q[2], q[3], n, r4)
            for t in range(4):
                out[slot[t]] = r4[t]
            nq = 0
    for t in range(nq):
        out[slot[t]] = _st_dot(g, q[t], n)


cdef inline void _st_latent_grads(
    floating* gd, floating* ge, const int64_t* order, Py_ssize_t s, Py_ssize_t e,
    int sh, int64_t jmask, Py_ssize_t k, Py_ssize_t ka, Py_ssize_t n,
    const floating* val, const floating* dz, const floating* G,
    const floating* aval, const floating* adz, const floating* Ga, const floating* Xc,
) noexcept nogil:
    """gd = sum val G[b] (Ga[b] for AuxK entries), ge = sum dz Xc[b], over one latent's entries
    in their fixed order, four rows per pass (zero coefficients skipped). gd and ge are
    written whole (their old contents are ignored). An entry is (b << sh) | (j << 1) | aux."""
    cdef const floating* qd[4]
    cdef const floating* qe[4]
    cdef floating ad[4]
    cdef floating ae[4]
    cdef int nd = 0, ne = 0
    cdef int fd = 1, fe = 1   # gd / ge not written yet (no memset of fresh rows)
    cdef Py_ssize_t p, ent, b, j
    cdef floating a, d
    cdef const floating* rd
    for p in range(s, e):
        ent = order[p]
        b = ent >> sh
        j = (ent >> 1) & jmask
        if (ent & 1) == 0:
            a = val[b * k + j]
            d = dz[b * k + j]
            rd = G + b * n
        else:
            a = aval[b * ka + j]
            d = adz[b * ka + j]
            rd = Ga + b * n
        if a != 0:
            qd[nd] = rd
            ad[nd] = a
            nd += 1
            if nd == 4:
                _st_flush4(gd, qd, ad, n, &fd)
                nd = 0
        if d != 0:
            qe[ne] = Xc + b * n
            ae[ne] = d
            ne += 1
            if ne == 4:
                _st_flush4(ge, qe, ae, n, &fe)
                ne = 0
    _st_flush_tail(gd, qd, ad, nd, n, fd)
    _st_flush_tail(ge, qe, ae, ne, n, fe)


cdef inline void _st_scale(floating* y, floating a, Py_ssize_t n) noexcept nogil:
    if floating is float:
        ks_scale_f_fast(y, a, n)
    else:
        ks_scale_d(y, a, n)


cdef inline void _st_add(floating* y, const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        ks_add_f_fast(y, x, n)
    else:
        ks_add_d(y, x, n)


cdef inline floating _st_dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return ks_dot_f(x, y, n)
    else:
        return ks_dot_d(x, y, n)


cdef inline void _st_adam(floating* w, floating* m, floating* v, const floating* g, Py_ssize_t n,
                          floating b1, floating b2, floating c1, floating s2, floating eps) noexcept nogil:
    # g == NULL: a zero gradient (a latent no sample chose)
    if floating is float:
        ks_adam_f(w, m, v, g, n, b1, b2, c1, s2, eps)
    else:
        ks_adam_d(w, m, v, g, n, b1, b2, c1, s2, eps)


def _step_adam_row(floating[::1] w, floating[::1] m, floating[::1] v, g, double lr_c1, double s2,
                   double beta1, double beta2, double eps):
    """One Adam row update as the fused step does it (g None: a zero gradient); for tests."""
    cdef const floating[::1] gv
    cdef Py_ssize_t n = w.shape[0]
    if m.shape[0] != n or v.shape[0] != n:
        raise ValueError("w, m and v must have the same length")
    if g is None:
        _st_adam(&w[0], &m[0], &v[0], <floating*>NULL, n, <floating>beta1, <floating>beta2,
                 <floating>lr_c1, <floating>s2, <floating>eps)
    else:
        gv = g
        if gv.shape[0] != n:
            raise ValueError("g must have the length of w")
        _st_adam(&w[0], &m[0], &v[0], &gv[0], n, <floating>beta1, <floating>beta2,
                 <floating>lr_c1, <floating>s2, <floating>eps)


cdef inline floating _st_sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline double _st_row_forward(
    const floating* x, floating* z, const floating* b_enc, const floating* W_dec,
    const floating* b_dec, int64_t* idx, floating* val, floating* g, floating* dz, floating* resid,
    Py_ssize_t n, Py_ssize_t m, Py_ssize_t k, int relu, int by_abs, floating scale,
    Py_ssize_t tk_groups, int tk_level, char* tk_scratch, int clip, floating lo, floating hi,
) noexcept nogil:
    """Forward pass of one sample, then dLoss/dz of its k units (while W_dec rows are in cache).

    When ``resid`` is not NULL it receives the residual x - xh (for AuxK). With ``clip``
    the reconstruction is xh = min(hi, max(lo, b_dec + code @ W_dec)) and its gradient is
    zero where the clip is active. Top-k is the top-k engineer's threshold kernel
    (``_topk_row``). Returns NaN when z is not finite.
    """
    cdef Py_ssize_t j, c
    cdef double err
    _st_add(z, b_enc, m)
    if not _topk_row(z, m, k, by_abs, tk_groups, tk_level, tk_scratch, val, idx):
        return NAN
    if relu:
        for j in range(k):
            if not (val[j] > 0):
                val[j] = 0
    for c in range(n):
        g[c] = b_dec[c]
    _st_gather_axpy(g, W_dec, n, 0, idx, val, k, 1, n)
    if clip:
        if floating is float:
            err = ks_sqerr_clip_f(g, x, resid, n, scale, lo, hi)
        else:
            err = ks_sqerr_clip_d(g, x, resid, n, scale, lo, hi)
    else:
        if resid != NULL:
            for c in range(n):
                resid[c] = x[c] - g[c]
        if floating is float:
            err = ks_sqerr_f(g, x, n, scale)
        else:
            err = ks_sqerr_d(g, x, n, scale)
    _st_code_grads(g, W_dec, idx, val, dz, k, relu, n)
    return err

cdef inline double _st_row_aux(
    const floating* resid, const floating* z, const int64_t* dead, Py_ssize_t nd,
    const floating* W_dec, int64_t* aidx, floating* aval, floating* adz, floating* ga, floating* zb,
    Py_ssize_t n, Py_ssize_t ka, int relu, int by_abs, floating gscale,
    int tk_level, char* tk_scratch,
) noexcept nogil:
    """AuxK for one sample: the ka dead units with the largest pre-activation reconstruct the
    residual; ga = gscale (e_hat - resid); adz = dLoss_aux/dz; returns sum (e_hat - resid)^2."""
    cdef Py_ssize_t i, j, c, npos = 0
    cdef floating a
    cdef double err
    for i in range(nd):
        a = z[dead[i]]
        zb[i] = a
        if a > 0:
            npos += 1
    if relu and npos <= ka:
        # ReLU zeroes all but the positive pre-activations, and all of them are among the
        # top ka: take them (ascending unit) without a selection; the other slots get
        # value 0 (they add nothing to the loss or to any gradient)
        j = 0
        for i in range(nd):
            if zb[i] > 0:
                aidx[j] = dead[i]
                aval[j] = zb[i]
                j += 1
        while j < ka:
            aidx[j] = dead[0]
            aval[j] = 0
            j += 1
    else:
        if not _topk_row(zb, nd, ka, by_abs, _n_groups(nd, ka), tk_level, tk_scratch, aval, aidx):
            return NAN
        for j in range(ka):
            aidx[j] = dead[aidx[j]]
            if relu and not (aval[j] > 0):
                aval[j] = 0
    for c in range(n):
        ga[c] = 0
    _st_gather_axpy(ga, W_dec, n, 0, aidx, aval, ka, 1, n)
    if floating is float:
        err = ks_sqerr_f(ga, resid, n, gscale)
    else:
        err = ks_sqerr_d(ga, resid, n, gscale)
    _st_code_grads(ga, W_dec, aidx, aval, adz, ka, relu, n)
    return err


@cython.boundscheck(False)
@cython.wraparound(False)
def _fused_step_adam(
    const floating[:, ::1] X,        # IN  (B, n) batch
    const floating[:, ::1] Xc,       # IN  (B, n) X - b_dec
    floating[:, ::1] Z,              # IN/OUT (B, m) Xc @ W_enc.T on entry; + b_enc on exit
    floating[:, ::1] W_enc,          # IN/OUT (m, n)
    floating[::1] b_enc,             # IN/OUT (m,)
    floating[:, ::1] W_dec,          # IN/OUT (m, n)
    floating[::1] b_dec,             # IN/OUT (n,)
    floating[:, ::1] mWe, floating[:, ::1] vWe,   # IN/OUT Adam moments of W_enc
    floating[::1] mbe, floating[::1] vbe,         # IN/OUT of b_enc
    floating[:, ::1] mWd, floating[:, ::1] vWd,   # IN/OUT of W_dec
    floating[::1] mbd, floating[::1] vbd,         # IN/OUT of b_dec
    int64_t[:, ::1] idx,             # OUT (B, k) selected units
    floating[:, ::1] val,            # OUT (B, k) their activations
    floating[:, ::1] G,              # WORK (B, n) reconstruction, then dLoss/dXh
    floating[:, ::1] dz,             # WORK (B, k) dLoss/dz at the selected units
    int64_t[::1] starts,             # WORK (m + 1,) inverse index offsets
    int64_t[::1] order,              # WORK (B k,) inverse index entries
    floating[::1] gbe,               # WORK (m,) encoder-bias gradient
    floating[::1] gbd,               # WORK (n,) decoder-bias gradient
    floating[:, ::1] rows,           # WORK (n_threads, 2 n) per-thread gradient rows
    floating[:, ::1] gbdpart,        # WORK (ceil(m / 16), n) per-block parts of the decoder-bias gradient
    double[::1] rowerr,              # WORK (>= B,) per-sample squared errors
    int64_t[::1] since,              # IN/OUT (m,) samples since each unit last fired
    double c1,                       # lr / (1 - beta1^t)
    double s2,                       # 1 / sqrt(1 - beta2^t)
    double beta1, double beta2, double eps,
    int relu, int normalize, int n_threads,
    int by_abs,                      # top-k by absolute value (with the linear activation)
    const int64_t[::1] dead_units,   # IN  (n_dead,) ascending dead units (AuxK); empty: no AuxK
    int64_t[:, ::1] aidx,            # OUT (B, ka) AuxK units (ka = min(auxk_k, n_dead); 0: no AuxK)
    floating[:, ::1] aval,           # OUT (B, ka) their activations
    floating[:, ::1] adz,            # WORK (B, ka) dLoss/dz of the AuxK units
    floating[:, ::1] resid,          # WORK (B, n) residual X - Xh
    floating[:, ::1] Ga,             # WORK (B, n) dLoss/de_hat of the AuxK reconstruction
    floating[:, ::1] zbuf,           # WORK (n_threads, >= n_dead) gathered dead pre-activations
    double[::1] auxerr,              # WORK (>= max(B, 2 n),) column sums, then per-sample AuxK errors
    double auxk_coef,                # weight of the AuxK loss
    char[::1] tkscratch,             # WORK top-k scratch: _step_topk_scratch_bytes(m, itemsize, n_threads)
    double auxk_min_spread,          # no AuxK unless the denominator > this * sum(e^2) (losses._AUXK_MIN_SPREAD)
    double enc_decay=1.0,            # W_enc rows of the units that fired in this batch are scaled by this
    int lazy=0,                      # lazy Adam: a unit that is not in the batch's code keeps its rows,
                                     # bias and moments (no update, no renormalisation)
    double out_lo=-INFINITY,         # the reconstruction is clipped to [out_lo, out_hi]
    double out_hi=INFINITY,          # (infinite bounds: no clipping)
):
    """One fused training step; returns ``(loss, mse, auxk)`` (loss = mse + auxk_coef auxk).

    When the loss is not finite nothing is updated (the caller checks it).
    """
    cdef Py_ssize_t B = X.shape[0], n = X.shape[1], m = W_enc.shape[0], k = idx.shape[1]
    cdef Py_ssize_t b, j, i, c, p, s, e, ent, tid, c0, c1b
    cdef floating scale = <floating>(2.0 / (<double>B * <double>n))
    cdef floating fb1 = <floating>beta1, fb2 = <floating>beta2, fc1 = <floating>c1
    cdef floating fs2 = <floating>s2, feps = <floating>eps
    cdef floating fdecay = <floating>enc_decay
    cdef int decay = enc_decay != 1.0
    cdef int clip = out_lo > -INFINITY or out_hi < INFINITY
    cdef floating flo = <floating>out_lo, fhi = <floating>out_hi
    cdef floating a, d, acc, proj, nrm
    cdef floating* gd
    cdef floating* ge
    cdef double total = 0.0
    cdef Py_ssize_t nblocks = (n + 127) // 128
    cdef int nt = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t nd = dead_units.shape[0], ka = aidx.shape[1]
    cdef int aux = nd > 0 and ka > 0
    cdef Py_ssize_t nbk = B * k
    cdef Py_ssize_t nlb = (m + 15) // 16, lb, i1
    cdef floating* part
    cdef int sh = 1                  # inverse-index entries: (b << sh) | (j << 1) | aux
    cdef int64_t jmask
    cdef const floating* pv
    cdef const floating* pd
    cdef const int64_t* pi
    cdef const int64_t* aptr_i = NULL
    cdef double mse, auxv = 0.0, denom = 0.0, mu, dd
    cdef floating gscale = 0
    cdef floating* rp
    cdef double* musum
    cdef double* dsum
    cdef Py_ssize_t tk_per = _scratch_bytes(m, sizeof(floating))
    cdef Py_ssize_t tk_groups = _n_groups(m, k)
    cdef int tk_level = ksp_simd_get_level()
    cdef char* tk_base
    if not (out_lo <= out_hi):
        raise ValueError(f"output bounds ({out_lo}, {out_hi}) must satisfy low <= high")
    if gbdpart.shape[0] < nlb or gbdpart.shape[1] != n:
        raise ValueError("gbdpart must have shape (ceil(m / 16), n)")
    if aux and auxerr.shape[0] < max(B, 2 * n):
        raise ValueError("auxerr must hold max(B, 2 n) doubles")
    if tkscratch.shape[0] < nt * tk_per + 64:
        raise ValueError("tkscratch is too small: use _step_topk_scratch_bytes(m, itemsize, n_threads)")
    cdef const floating* aptr_v = NULL
    cdef const floating* aptr_dz = NULL
    cdef const floating* aptr_G = NULL
    if nd > 0 and ka > 0:
        aptr_i = &aidx[0, 0]
        aptr_v = &aval[0, 0]
        aptr_dz = &adz[0, 0]
        aptr_G = &Ga[0, 0]
    tk_base = &tkscratch[0]
    tk_base = tk_base + (64 - (<uintptr_t> tk_base) % 64) % 64
    while (<int64_t>1 << (sh - 1)) < max(k, ka, 1):
        sh += 1
    jmask = (<int64_t>1 << (sh - 1)) - 1
    with nogil:
        # 1. forward, per sample
        for b in prange(B, num_threads=nt, schedule="static"):
            if aux:
                rp = &resid[b, 0]
            else:
                rp = NULL
            rowerr[b] = _st_row_forward(
                &X[b, 0], &Z[b, 0], &b_enc[0], &W_dec[0, 0], &b_dec[0],
                &idx[b, 0], &val[b, 0], &G[b, 0], &dz[b, 0], rp, n, m, k, relu, by_abs, scale,
                tk_groups, tk_level, tk_base + threadid() * tk_per, clip, flo, fhi)
        for b in range(B):
            total += rowerr[b]
        mse = total / (<double>B * <double>n)
        # 1b. AuxK: denominator sum((e - mean_b e)^2), then per sample the dead units' reconstruction
        if aux:
            # column sums row by row (independent accumulators per column, in auxerr[0:2n])
            musum = &auxerr[0]
            dsum = &auxerr[n]
            for c in range(n):
                musum[c] = 0.0
                dsum[c] = 0.0
            for b in range(B):
                rp = &resid[b, 0]
                for c in range(n):
                    musum[c] += rp[c]
            for c in range(n):
                musum[c] = musum[c] / B
            for b in range(B):
                rp = &resid[b, 0]
                for c in range(n):
                    dd = rp[c] - musum[c]
                    dsum[c] += dd * dd
            for c in range(n):
                denom += dsum[c]
            # residuals that (nearly) do not vary across the batch carry nothing for AuxK
            # and would blow its normalised loss up: skip it (as ksparse.losses.AuxKLoss)
            if denom > auxk_min_spread * total:
                gscale = <floating>(2.0 * auxk_coef / denom)
                for b in prange(B, num_threads=nt, schedule="static"):
                    tid = threadid()
                    auxerr[b] = _st_row_aux(
                        &resid[b, 0], &Z[b, 0], &dead_units[0], nd, &W_dec[0, 0],
                        &aidx[b, 0], &aval[b, 0], &adz[b, 0], &Ga[b, 0], &zbuf[tid, 0],
                        n, ka, relu, by_abs, gscale, tk_level, tk_base + tid * tk_per)
                for b in range(B):
                    auxv += auxerr[b]
                auxv = auxv / denom
            else:
                aux = 0
    total = mse + auxk_coef * auxv
    if not (total == total and total - total == 0.0):
        return total, mse, auxv  # not finite: no update
    with nogil:
        # 2. firing counters: every unit += B (stopping at INT64_MAX instead of
        #    wrapping to negative), units selected with a nonzero value -> 0
        for i in range(m):
            if since[i] > INT64_MAX - B:
                since[i] = INT64_MAX
            else:
                since[i] += B
        for b in range(B):
            for j in range(k):
                if val[b, j] != 0:
                    since[idx[b, j]] = 0
        # 3. inverse index: latent -> entries (b << sh) | (j << 1) | aux, main entries
        #    in ascending b, then the AuxK ones. An entry with value 0 and gradient 0
        #    (a ReLU-zeroed unit) adds nothing to any gradient and is left out.
        for i in range(m + 1):
            starts[i] = 0
        pv = &val[0, 0]
        pd = &dz[0, 0]
        pi = &idx[0, 0]
        for p in range(nbk):
            if pv[p] != 0 or pd[p] != 0:
                starts[pi[p] + 1] += 1
        if aux:
            for p in range(B * ka):
                if aptr_v[p] != 0 or aptr_dz[p] != 0:
                    starts[aptr_i[p] + 1] += 1
        for i in range(m):
            starts[i + 1] += starts[i]
        for b in range(B):
            for j in range(k):
                p = b * k + j
                if pv[p] != 0 or pd[p] != 0:
                    i = pi[p]
                    order[starts[i]] = (b << sh) | (j << 1)
                    starts[i] += 1
        if aux:
            for b in range(B):
                for j in range(ka):
                    p = b * ka + j
                    if aptr_v[p] != 0 or aptr_dz[p] != 0:
                        i = aptr_i[p]
                        order[starts[i]] = (b << sh) | (j << 1) | 1
                        starts[i] += 1
        for i in range(m, 0, -1):
            starts[i] = starts[i - 1]
        starts[0] = 0
        # 4. bias gradients
        for i in range(m):
            acc = 0
            for p in range(starts[i], starts[i + 1]):
                ent = order[p]
                b = ent >> sh
                j = (ent >> 1) & jmask
                if (ent & 1) == 0:
                    acc = acc + pd[b * k + j]
                else:
                    acc = acc + aptr_dz[b * ka + j]
            gbe[i] = acc
        for p in prange(nblocks, num_threads=nt, schedule="static"):
            c0 = p * 128
            c1b = c0 + 128
            if c1b > n:
                c1b = n
            for c in range(c0, c1b):
                gbd[c] = 0
            for b in range(B):
                _st_add(&gbd[c0], &G[b, c0], c1b - c0)
        # 5. latent by latent (blocks of 16): gradient rows, projection, Adam,
        #    renormalisation; each block also sums -gbe[i] W_enc[i] (read before its
        #    update) into its own row of gbdpart, so W_enc is streamed once
        for lb in prange(nlb, num_threads=nt, schedule="dynamic", chunksize=1):
          tid = threadid()
          gd = &rows[tid, 0]
          ge = &rows[tid, n]
          part = &gbdpart[lb, 0]
          for c in range(n):
              part[c] = 0
          i1 = lb * 16 + 16
          if i1 > m:
              i1 = m
          for i in range(lb * 16, i1):
            if gbe[i] != 0:
                _st_axpy(part, &W_enc[i, 0], -gbe[i], n)
            s = starts[i]
            e = starts[i + 1]
            if e > s:
                _st_latent_grads(gd, ge, &order[0], s, e, sh, jmask, k, ka, n, &val[0, 0], &dz[0, 0], &G[0, 0],
                                 aptr_v, aptr_dz, aptr_G, &Xc[0, 0])
                if normalize:
                    nrm = _st_dot(&W_dec[i, 0], &W_dec[i, 0], n)
                    if nrm > 0:
                        proj = _st_dot(gd, &W_dec[i, 0], n) / nrm
                        _st_axpy(gd, &W_dec[i, 0], -proj, n)
                _st_adam(&W_dec[i, 0], &mWd[i, 0], &vWd[i, 0], gd, n, fb1, fb2, fc1, fs2, feps)
                if decay and since[i] == 0:
                    # decoupled weight decay of a unit that fired (AdamW): the Adam step
                    # does not depend on W_enc, so scaling first gives w d - step
                    _st_scale(&W_enc[i, 0], fdecay, n)
                _st_adam(&W_enc[i, 0], &mWe[i, 0], &vWe[i, 0], ge, n, fb1, fb2, fc1, fs2, feps)
                _st_adam(&b_enc[i], &mbe[i], &vbe[i], &gbe[i], 1, fb1, fb2, fc1, fs2, feps)
            elif not lazy:
                _st_adam(&W_dec[i, 0], &mWd[i, 0], &vWd[i, 0], <floating*>NULL, n, fb1, fb2, fc1, fs2, feps)
                _st_adam(&W_enc[i, 0], &mWe[i, 0], &vWe[i, 0], <floating*>NULL, n, fb1, fb2, fc1, fs2, feps)
                _st_adam(&b_enc[i], &mbe[i], &vbe[i], <floating*>NULL, 1, fb1, fb2, fc1, fs2, feps)
            if normalize and (e > s or not lazy):
                nrm = _st_sqrt(_st_dot(&W_dec[i, 0], &W_dec[i, 0], n))
                if nrm > 0:
                    _st_scale(&W_dec[i, 0], 1 / nrm, n)
        # the W_enc part of the decoder-bias gradient, block rows added in order
        for p in prange(nblocks, num_threads=nt, schedule="static"):
            c0 = p * 128
            c1b = c0 + 128
            if c1b > n:
                c1b = n
            for lb in range(nlb):
                _st_add(&gbd[c0], &gbdpart[lb, c0], c1b - c0)
        # 6. decoder bias
        _st_adam(&b_dec[0], &mbd[0], &vbd[0], &gbd[0], n, fb1, fb2, fc1, fs2, feps)
    return total, mse, auxv
