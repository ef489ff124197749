# cython: language_level=3
"""Declarations of the C kernels of ksparse._core (the headers ksparse/_ks_*.h and
_topk_simd.h), and fused-type wrappers that pick the float (_f) or double (_d)
instantiation.  The .pxi files of _core cimport everything from here, so none of
them depends on another's internals or on the order they are included in.
"""

from libc.stdint cimport int32_t, int64_t
from cython cimport floating

cdef extern from "_ks_simd.h" nogil:
    int KS_SIMD_SCALAR
    int KS_SIMD_SSE2
    int KS_SIMD_AVX2
    void ks_simd_init()
    int ks_simd_set_level(int level)
    int ks_simd_get_level()
    int ks_simd_get_best()
    int ks_team(int n_threads, Py_ssize_t items)

cdef extern from "_ks_common.h" nogil:
    int KSPARSE_HAVE_OPENMP
    int omp_get_max_threads()
    void ks_axpy_f(Py_ssize_t n, float a, const float *x, float *y)
    void ks_axpy_d(Py_ssize_t n, double a, const double *x, double *y)
    float ks_dot_f(Py_ssize_t n, const float *x, const float *y)
    double ks_dot_d(Py_ssize_t n, const double *x, const double *y)
    void ks_scale_f(Py_ssize_t n, float a, float *y)
    void ks_scale_d(Py_ssize_t n, double a, double *y)
    void ks_add_f(Py_ssize_t n, const float *x, float *y)
    void ks_add_d(Py_ssize_t n, const double *x, double *y)
    float ks_normalize_row_f(Py_ssize_t n, float *y, int recip)
    double ks_normalize_row_d(Py_ssize_t n, double *y, int recip)
    void ks_firing_update_f(int64_t *since, Py_ssize_t m, int64_t n_samples,
                            const int64_t *idx, const float *val, Py_ssize_t cnt)
    void ks_firing_update_d(int64_t *since, Py_ssize_t m, int64_t n_samples,
                            const int64_t *idx, const double *val, Py_ssize_t cnt)
    void ks_group_by_unit_f(Py_ssize_t m, const int64_t *keys1, const float *a1, const float *d1,
                            Py_ssize_t n1, const int64_t *keys2, const float *a2, const float *d2,
                            Py_ssize_t n2, int64_t *starts, int64_t *order, int64_t *rows1, Py_ssize_t k1)
    void ks_group_by_unit_d(Py_ssize_t m, const int64_t *keys1, const double *a1, const double *d1,
                            Py_ssize_t n1, const int64_t *keys2, const double *a2, const double *d2,
                            Py_ssize_t n2, int64_t *starts, int64_t *order, int64_t *rows1, Py_ssize_t k1)

cdef extern from "_ks_optim.h" nogil:
    void ks_adam_row_f(Py_ssize_t n, float *w, const float *g, float *m, float *v, float wd,
                       float b1, float omb1, float b2, float omb2, float a, float c, float eps)
    void ks_adam_row_d(Py_ssize_t n, double *w, const double *g, double *m, double *v, double wd,
                       double b1, double omb1, double b2, double omb2, double a, double c, double eps)
    void ks_opt_segment_f(int kind, Py_ssize_t n, float *p, const float *g,
                          float *s1, float *s2, const double *h)
    void ks_opt_segment_d(int kind, Py_ssize_t n, double *p, const double *g,
                          double *s1, double *s2, const double *h)

cdef extern from "_ks_sparse.h" nogil:
    void ks_sp_combine_f(Py_ssize_t n, float *dst, int accumulate, const float *init,
                         const float *base, Py_ssize_t ld, const int64_t *rows,
                         const float *coef, Py_ssize_t cnt)
    void ks_sp_combine_d(Py_ssize_t n, double *dst, int accumulate, const double *init,
                         const double *base, Py_ssize_t ld, const int64_t *rows,
                         const double *coef, Py_ssize_t cnt)
    void ks_sp_latent_bwd_f(Py_ssize_t n, const float *wrow, float *dwrow, const float *G,
                            Py_ssize_t ld, const int64_t *brow, const float *coef,
                            const int64_t *pos, Py_ssize_t cnt, float *dvals)
    void ks_sp_latent_bwd_d(Py_ssize_t n, const double *wrow, double *dwrow, const double *G,
                            Py_ssize_t ld, const int64_t *brow, const double *coef,
                            const int64_t *pos, Py_ssize_t cnt, double *dvals)

cdef extern from "_ks_step.h" nogil:
    void ks_axpy4_f(Py_ssize_t n, float *y, const float *x0, const float *x1, const float *x2,
                    const float *x3, float a0, float a1, float a2, float a3)
    void ks_axpy4_d(Py_ssize_t n, double *y, const double *x0, const double *x1, const double *x2,
                    const double *x3, double a0, double a1, double a2, double a3)
    void ks_set4_f(Py_ssize_t n, float *y, const float *x0, const float *x1, const float *x2,
                   const float *x3, float a0, float a1, float a2, float a3)
    void ks_set4_d(Py_ssize_t n, double *y, const double *x0, const double *x1, const double *x2,
                   const double *x3, double a0, double a1, double a2, double a3)
    void ks_dot4_f(Py_ssize_t n, const float *x, const float *y0, const float *y1, const float *y2,
                   const float *y3, float *out)
    void ks_dot4_d(Py_ssize_t n, const double *x, const double *y0, const double *y1, const double *y2,
                   const double *y3, double *out)
    double ks_sqerr_f(Py_ssize_t n, float *g, const float *x, float scale)
    double ks_sqerr_d(Py_ssize_t n, double *g, const double *x, double scale)
    double ks_sqerr_clip_f(Py_ssize_t n, float *g, const float *x, float *resid, float scale,
                           float lo, float hi)
    double ks_sqerr_clip_d(Py_ssize_t n, double *g, const double *x, double *resid, double scale,
                           double lo, double hi)

cdef extern from "_topk_simd.h" nogil:
    void ksp_simd_init()
    bint ksp_all_finite_f32(const float *x, Py_ssize_t m, int level)
    bint ksp_all_finite_f64(const double *x, Py_ssize_t m, int level)
    bint ksp_group_max_f32(const float *x, Py_ssize_t m, Py_ssize_t c, bint by_abs,
                           float *mx, int level)
    bint ksp_group_max_f64(const double *x, Py_ssize_t m, Py_ssize_t c, bint by_abs,
                           double *mx, int level)
    float ksp_kth_largest_f32(const float *x, Py_ssize_t n, Py_ssize_t k, int level, float *tmp)
    double ksp_kth_largest_f64(const double *x, Py_ssize_t n, Py_ssize_t k, int level, double *tmp)
    Py_ssize_t ksp_gather_ge_f32(const float *x, Py_ssize_t start, Py_ssize_t m, float thr,
                                 bint by_abs, bint strict, float *ck, int32_t *ci, int level)
    Py_ssize_t ksp_gather_ge_f64(const double *x, Py_ssize_t start, Py_ssize_t m, double thr,
                                 bint by_abs, bint strict, double *ck, int32_t *ci, int level)
    void ksp_rank_f32(const float *x, Py_ssize_t n, int32_t *r, int level)
    void ksp_rank_f64(const double *x, Py_ssize_t n, int32_t *r, int level)


# ---- fused-type wrappers: one name per kernel for float and double -----------

cdef inline void k_axpy(Py_ssize_t n, floating a, const floating *x, floating *y) noexcept nogil:
    if floating is float:
        ks_axpy_f(n, a, x, y)
    else:
        ks_axpy_d(n, a, x, y)

cdef inline floating k_dot(Py_ssize_t n, const floating *x, const floating *y) noexcept nogil:
    if floating is float:
        return ks_dot_f(n, x, y)
    else:
        return ks_dot_d(n, x, y)

cdef inline void k_scale(Py_ssize_t n, floating a, floating *y) noexcept nogil:
    if floating is float:
        ks_scale_f(n, a, y)
    else:
        ks_scale_d(n, a, y)

cdef inline void k_add(Py_ssize_t n, const floating *x, floating *y) noexcept nogil:
    if floating is float:
        ks_add_f(n, x, y)
    else:
        ks_add_d(n, x, y)

cdef inline floating k_normalize_row(Py_ssize_t n, floating *y, int recip) noexcept nogil:
    if floating is float:
        return ks_normalize_row_f(n, y, recip)
    else:
        return ks_normalize_row_d(n, y, recip)

cdef inline void k_adam_row(Py_ssize_t n, floating *w, const floating *g, floating *m, floating *v,
                            floating b1, floating omb1, floating b2, floating omb2, floating a,
                            floating c, floating eps) noexcept nogil:
    """Adam without weight decay (g NULL: a zero gradient); see _ks_optim.h."""
    if floating is float:
        ks_adam_row_f(n, w, g, m, v, 0, b1, omb1, b2, omb2, a, c, eps)
    else:
        ks_adam_row_d(n, w, g, m, v, 0, b1, omb1, b2, omb2, a, c, eps)

cdef inline void k_opt_segment(int kind, Py_ssize_t n, floating *p, const floating *g,
                               floating *s1, floating *s2, const double *h) noexcept nogil:
    if floating is float:
        ks_opt_segment_f(kind, n, p, g, s1, s2, h)
    else:
        ks_opt_segment_d(kind, n, p, g, s1, s2, h)

cdef inline void k_sp_combine(Py_ssize_t n, floating *dst, int accumulate, const floating *init,
                              const floating *base, Py_ssize_t ld, const int64_t *rows,
                              const floating *coef, Py_ssize_t cnt) noexcept nogil:
    if floating is float:
        ks_sp_combine_f(n, dst, accumulate, init, base, ld, rows, coef, cnt)
    else:
        ks_sp_combine_d(n, dst, accumulate, init, base, ld, rows, coef, cnt)

cdef inline void k_axpy4(Py_ssize_t n, floating *y, const floating **xs, const floating *a) noexcept nogil:
    if floating is float:
        ks_axpy4_f(n, y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3])
    else:
        ks_axpy4_d(n, y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3])

cdef inline void k_set4(Py_ssize_t n, floating *y, const floating **xs, const floating *a) noexcept nogil:
    if floating is float:
        ks_set4_f(n, y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3])
    else:
        ks_set4_d(n, y, xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2], a[3])

cdef inline void k_dot4(Py_ssize_t n, const floating *x, const floating **ys, floating *out) noexcept nogil:
    if floating is float:
        ks_dot4_f(n, x, ys[0], ys[1], ys[2], ys[3], out)
    else:
        ks_dot4_d(n, x, ys[0], ys[1], ys[2], ys[3], out)

cdef inline double k_sqerr(Py_ssize_t n, floating *g, const floating *x, floating scale) noexcept nogil:
    if floating is float:
        return ks_sqerr_f(n, g, x, scale)
    else:
        return ks_sqerr_d(n, g, x, scale)

cdef inline double k_sqerr_clip(Py_ssize_t n, floating *g, const floating *x, floating *resid,
                                floating scale, floating lo, floating hi) noexcept nogil:
    if floating is float:
        return ks_sqerr_clip_f(n, g, x, resid, scale, lo, hi)
    else:
        return ks_sqerr_clip_d(n, g, x, resid, scale, lo, hi)

cdef inline void k_firing_update(int64_t *since, Py_ssize_t m, int64_t n_samples, const int64_t *idx,
                                 const floating *val, Py_ssize_t cnt) noexcept nogil:
    if floating is float:
        ks_firing_update_f(since, m, n_samples, idx, val, cnt)
    else:
        ks_firing_update_d(since, m, n_samples, idx, val, cnt)

cdef inline void k_group_by_unit(Py_ssize_t m, const int64_t *keys1, const floating *a1,
                                 const floating *d1, Py_ssize_t n1, const int64_t *keys2,
                                 const floating *a2, const floating *d2, Py_ssize_t n2,
                                 int64_t *starts, int64_t *order, int64_t *rows1, Py_ssize_t k1) noexcept nogil:
    if floating is float:
        ks_group_by_unit_f(m, keys1, a1, d1, n1, keys2, a2, d2, n2, starts, order, rows1, k1)
    else:
        ks_group_by_unit_d(m, keys1, a1, d1, n1, keys2, a2, d2, n2, starts, order, rows1, k1)

cdef inline void k_sp_latent_bwd(Py_ssize_t n, const floating *wrow, floating *dwrow, const floating *G,
                                 Py_ssize_t ld, const int64_t *brow, const floating *coef,
                                 const int64_t *pos, Py_ssize_t cnt, floating *dvals) noexcept nogil:
    if floating is float:
        ks_sp_latent_bwd_f(n, wrow, dwrow, G, ld, brow, coef, pos, cnt, dvals)
    else:
        ks_sp_latent_bwd_d(n, wrow, dwrow, G, ld, brow, coef, pos, cnt, dvals)

cdef inline bint k_all_finite(const floating *x, Py_ssize_t m, int level) noexcept nogil:
    if floating is float:
        return ksp_all_finite_f32(x, m, level)
    else:
        return ksp_all_finite_f64(x, m, level)

cdef inline bint k_group_max(const floating *x, Py_ssize_t m, Py_ssize_t c, bint by_abs, floating *mx,
                             int level) noexcept nogil:
    if floating is float:
        return ksp_group_max_f32(x, m, c, by_abs, mx, level)
    else:
        return ksp_group_max_f64(x, m, c, by_abs, mx, level)

cdef inline floating k_kth_largest(const floating *x, Py_ssize_t n, Py_ssize_t k, int level,
                                   floating *tmp) noexcept nogil:
    if floating is float:
        return ksp_kth_largest_f32(x, n, k, level, tmp)
    else:
        return ksp_kth_largest_f64(x, n, k, level, tmp)

cdef inline Py_ssize_t k_gather_ge(const floating *x, Py_ssize_t start, Py_ssize_t m, floating thr,
                                   bint by_abs, bint strict, floating *ck, int32_t *ci,
                                   int level) noexcept nogil:
    if floating is float:
        return ksp_gather_ge_f32(x, start, m, thr, by_abs, strict, ck, ci, level)
    else:
        return ksp_gather_ge_f64(x, start, m, thr, by_abs, strict, ck, ci, level)

cdef inline void k_rank(const floating *x, Py_ssize_t n, int32_t *r, int level) noexcept nogil:
    if floating is float:
        ksp_rank_f32(x, n, r, level)
    else:
        ksp_rank_f64(x, n, r, level)
