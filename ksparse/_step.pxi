# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# The fused training step of the k-sparse autoencoder (default configuration:
# ReLU or linear activation, top-k by value, MSE loss, Adam). The caller
# (ksparse.training.FusedStep) computes Xc = X - b_dec and the encoder product
# Z = Xc @ W_enc.T with BLAS into the workspaces of a _FusedStepWorkspace (allocated
# once), then one call of its ``run`` method does:
#
#   1. per sample (rows split between threads): Z += b_enc, top-k of Z (the
#      threshold kernel _topk_row of _topk.pxi), ReLU,
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
#
# Every output element is computed by one thread in a fixed order, so results do
# not depend on the number of threads. The row kernels are C (declared in
# _kernels.pxd): Adam is _ks_optim.h's ks_adam_row, the one the optimizer objects
# use; axpy, dot, scale, add, the row normalisation (scaled when the plain sum of
# squares would overflow or underflow), the firing counters and the counting sort
# are _ks_common.h's, shared with the sparse kernels; the 4-row axpy, 4-way dot and
# squared errors are _ks_step.h's. All follow the one SIMD dispatch (_ks_simd.h);
# the Adam rows are bit-identical on every path.

from libc.math cimport NAN, INFINITY
from libc.stdint cimport int64_t, uintptr_t
from cython.parallel cimport threadid

import numpy as _np


def _step_uses_avx():
    """True when the fused step's row kernels use AVX (the dispatch level is AVX2)."""
    return ks_simd_get_level() >= KS_SIMD_AVX2


def _step_topk_scratch_bytes(Py_ssize_t m, Py_ssize_t itemsize, int n_threads):
    """Bytes of the fused step's top-k scratch for m units and n_threads threads."""
    return max(1, n_threads) * _scratch_bytes(m, itemsize) + 64


def _step_set_avx(on):
    """Turn the AVX row kernels on (the best level this CPU runs) or off (SSE2 at most);
    return the new state. For tests: the AVX and SSE2/scalar paths must give
    bit-identical Adam updates. It sets the one dispatch, shared by every kernel."""
    if on:
        ks_simd_set_level(ks_simd_get_best())
    else:
        ks_simd_set_level(min(ks_simd_get_best(), KS_SIMD_SSE2))
    return ks_simd_get_level() >= KS_SIMD_AVX2


def _step_adam_row(floating[::1] w, floating[::1] m, floating[::1] v, g, double lr_c1, double s2,
                   double beta1, double beta2, double eps):
    """One Adam row update as the fused step does it (g None: a zero gradient); for tests."""
    cdef const floating[::1] gv
    cdef const floating* gp = NULL
    cdef Py_ssize_t n = w.shape[0]
    cdef floating fb1 = <floating>beta1, fb2 = <floating>beta2
    if m.shape[0] != n or v.shape[0] != n:
        raise ValueError("w, m and v must have the same length")
    if g is not None:
        gv = g
        if gv.shape[0] != n:
            raise ValueError("g must have the length of w")
        if n > 0:
            gp = &gv[0]
    if n == 0:
        return
    k_adam_row(n, &w[0], gp, &m[0], &v[0], fb1, 1 - fb1, fb2, 1 - fb2, <floating>lr_c1,
               <floating>s2, <floating>eps)


cdef inline void _st_flush4(floating* y, const floating** xs, const floating* a, Py_ssize_t n,
                            int* fresh) noexcept nogil:
    """y += the four rows' combination, or y = it when y has not been written yet."""
    if fresh[0]:
        k_set4(n, y, xs, a)
        fresh[0] = 0
    else:
        k_axpy4(n, y, xs, a)


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
        k_axpy(n, a[t], xs[t], y)


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
                k_axpy4(n, y, q, a4)
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
            k_dot4(n, g, q, r4)
            for t in range(4):
                out[slot[t]] = r4[t]
            nq = 0
    for t in range(nq):
        out[slot[t]] = k_dot(n, g, q[t])


cdef inline void _st_latent_grads(
    floating* gd, floating* ge, const int64_t* order, Py_ssize_t s, Py_ssize_t e,
    Py_ssize_t nbk, Py_ssize_t k, Py_ssize_t ka, Py_ssize_t n,
    const floating* val, const floating* dz, const floating* G,
    const floating* aval, const floating* adz, const floating* Ga, const floating* Xc,
) noexcept nogil:
    """gd = sum val G[b] (Ga[b] for AuxK entries), ge = sum dz Xc[b], over one latent's entries
    in their fixed order, four rows per pass (zero coefficients skipped). gd and ge are
    written whole (their old contents are ignored). An entry p < nbk is (b, j) = divmod(p, k)
    of the main code, p >= nbk is divmod(p - nbk, ka) of the AuxK code (ks_group_by_unit)."""
    cdef const floating* qd[4]
    cdef const floating* qe[4]
    cdef floating ad[4]
    cdef floating ae[4]
    cdef int nd = 0, ne = 0
    cdef int fd = 1, fe = 1   # gd / ge not written yet (no memset of fresh rows)
    cdef Py_ssize_t p, ent, b
    cdef floating a, d
    cdef const floating* rd
    for p in range(s, e):
        ent = order[p]
        if ent < nbk:
            b = ent // k
            a = val[ent]
            d = dz[ent]
            rd = G + b * n
        else:
            ent = ent - nbk
            b = ent // ka
            a = aval[ent]
            d = adz[ent]
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


cdef inline double _st_row_forward(
    const floating* x, floating* z, const floating* b_enc, const floating* W_dec,
    const floating* b_dec, int64_t* idx, floating* val, floating* g, floating* dz, floating* resid,
    Py_ssize_t n, Py_ssize_t m, Py_ssize_t k, int relu, int by_abs, floating scale,
    Py_ssize_t tk_groups, int tk_level, char* tk_scratch, int clip, floating lo, floating hi,
) noexcept nogil:
    """Forward pass of one sample, then dLoss/dz of its k units (while W_dec rows are in cache).

    When ``resid`` is not NULL it receives the residual x - xh (for AuxK). With ``clip``
    the reconstruction is xh = min(hi, max(lo, b_dec + code @ W_dec)) and its gradient is
    zero where the clip is active. Top-k is the threshold kernel of _topk.pxi
    (``_topk_row``). Returns NaN when z is not finite.
    """
    cdef Py_ssize_t j, c
    cdef double err
    k_add(m, b_enc, z)
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
        err = k_sqerr_clip(n, g, x, resid, scale, lo, hi)
    else:
        if resid != NULL:
            for c in range(n):
                resid[c] = x[c] - g[c]
        err = k_sqerr(n, g, x, scale)
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
    err = k_sqerr(n, ga, resid, gscale)
    _st_code_grads(ga, W_dec, aidx, aval, adz, ka, relu, n)
    return err



@cython.auto_pickle(False)
cdef class _FusedStepWorkspace:
    """The fused Adam step's settings and workspaces, allocated once.

    ``params`` holds W_enc (m, n), b_enc, W_dec, b_dec; ``adam_m`` and ``adam_v`` the
    Adam moments under the same keys (the dicts are kept: their arrays are looked up
    at each call). The caller writes ``Xc[:B] = X - b_dec`` and ``Z[:B] = Xc @ W_enc.T``
    (BLAS), then calls :meth:`run`.
    """
    cdef readonly object Xc
    cdef readonly object Z
    cdef object params, mom1, mom2
    cdef object G, idx, val, dz, starts, order, gbe, gbd, rows, gbdpart, rowerr
    cdef object aidx, aval, adz, resid, Ga, zbuf, auxerr, tkscratch, no_dead
    cdef Py_ssize_t batch_size, k_max, ka_max, m, n
    cdef int n_threads, relu, normalize, by_abs
    cdef double auxk_coef, auxk_min_spread

    def __init__(self, dict params, dict adam_m, dict adam_v, Py_ssize_t batch_size,
                 Py_ssize_t k_max, int n_threads, bint relu, bint normalize, bint by_abs,
                 Py_ssize_t auxk_k, double auxk_coef, double auxk_min_spread):
        W = params["W_enc"]
        m, n = W.shape
        dt = W.dtype
        B = batch_size
        ka = min(auxk_k, m) if auxk_coef > 0 else 0
        nt = max(1, n_threads)
        self.params, self.mom1, self.mom2 = params, adam_m, adam_v
        self.batch_size, self.k_max, self.ka_max, self.m, self.n = B, k_max, ka, m, n
        self.n_threads, self.relu, self.normalize, self.by_abs = nt, relu, normalize, by_abs
        self.auxk_coef, self.auxk_min_spread = auxk_coef, auxk_min_spread
        self.Xc = _np.empty((B, n), dt)
        self.Z = _np.empty((B, m), dt)
        self.G = _np.empty((B, n), dt)
        self.idx = _np.empty(B * k_max, _np.int64)
        self.val = _np.empty(B * k_max, dt)
        self.dz = _np.empty(B * k_max, dt)
        self.starts = _np.empty(m + 1, _np.int64)
        self.order = _np.empty(max(1, B * (k_max + ka)), _np.int64)
        self.gbe = _np.empty(m, dt)
        self.gbd = _np.empty(n, dt)
        self.rows = _np.empty((nt, 2 * n), dt)
        self.gbdpart = _np.empty(((m + 15) // 16, n), dt)
        self.rowerr = _np.empty(max(1, B), _np.float64)
        # AuxK workspaces (empty when AuxK is off)
        self.aidx = _np.empty(B * ka, _np.int64)
        self.aval = _np.empty(B * ka, dt)
        self.adz = _np.empty(B * ka, dt)
        self.resid = _np.empty((B if ka > 0 else 0, n), dt)
        self.Ga = _np.empty((B if ka > 0 else 0, n), dt)
        self.zbuf = _np.empty((nt if ka > 0 else 0, m), dt)
        self.auxerr = _np.empty(max(B, 2 * n) if ka > 0 else 0, _np.float64)
        # top-k scratch of the top-k row kernel, zeroed once (SIMD reads past the end)
        self.tkscratch = _np.zeros(nt * _scratch_bytes(m, dt.itemsize) + 64, _np.int8)
        self.no_dead = _np.empty(0, _np.int64)

    def run(self, X, Py_ssize_t k, dead_units, since, tuple hyper):
        """One fused step on batch X (B <= batch_size rows) with k <= k_max units.

        ``dead_units``: ascending dead units for AuxK (None or empty: no AuxK);
        ``since``: the (m,) int64 firing counters, updated in place;
        ``hyper``: ``(c1, s2, beta1, beta2, eps, enc_decay, lazy, out_lo, out_hi)`` with
        c1 = lr / (1 - beta1^t), s2 = 1 / sqrt(1 - beta2^t), enc_decay the factor of the
        encoder rows of the units that fired, lazy (lazy Adam: a unit not in the batch's code
        keeps its rows, bias and moments), and the bounds the reconstruction is clipped to.
        Returns ``(loss, mse, auxk, indices, values)`` (loss = mse + auxk_coef auxk; indices
        and values are views into the workspaces). When the loss is not finite nothing is
        updated.
        """
        cdef Py_ssize_t B = X.shape[0], ka = 0
        c1, s2, beta1, beta2, eps, enc_decay, lazy, out_lo, out_hi = hyper
        if not (out_lo <= out_hi):
            raise ValueError(f"output bounds ({out_lo}, {out_hi}) must satisfy low <= high")
        if B > self.batch_size or X.shape[1] != self.n or not (1 <= k <= min(self.k_max, self.m)):
            raise ValueError("the batch or k does not fit the workspaces")
        if dead_units is None:
            dead_units = self.no_dead
        if self.ka_max > 0:
            ka = min(self.ka_max, dead_units.shape[0])
        if X.dtype == _np.float32:
            r = _fused_run[float](self, X, k, ka, dead_units, since, c1, s2, beta1, beta2, eps,
                                  enc_decay, lazy, out_lo, out_hi)
        else:
            r = _fused_run[double](self, X, k, ka, dead_units, since, c1, s2, beta1, beta2, eps,
                                   enc_decay, lazy, out_lo, out_hi)
        return r + (self.idx[: B * k].reshape(B, k), self.val[: B * k].reshape(B, k))


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple _fused_run(_FusedStepWorkspace ws, const floating[:, ::1] X, Py_ssize_t k, Py_ssize_t ka,
                      const int64_t[::1] dead_units, int64_t[::1] since,
                      double c1, double s2, double beta1, double beta2, double eps,
                      double enc_decay, int lazy, double out_lo, double out_hi):
    cdef Py_ssize_t B = X.shape[0], n = X.shape[1], m = ws.m
    # parameters and moments, looked up now (the dicts may have been given new arrays)
    cdef floating[:, ::1] W_enc = ws.params["W_enc"]
    cdef floating[::1] b_enc = ws.params["b_enc"]
    cdef floating[:, ::1] W_dec = ws.params["W_dec"]
    cdef floating[::1] b_dec = ws.params["b_dec"]
    cdef floating[:, ::1] mWe = ws.mom1["W_enc"]
    cdef floating[:, ::1] vWe = ws.mom2["W_enc"]
    cdef floating[::1] mbe = ws.mom1["b_enc"]
    cdef floating[::1] vbe = ws.mom2["b_enc"]
    cdef floating[:, ::1] mWd = ws.mom1["W_dec"]
    cdef floating[:, ::1] vWd = ws.mom2["W_dec"]
    cdef floating[::1] mbd = ws.mom1["b_dec"]
    cdef floating[::1] vbd = ws.mom2["b_dec"]
    # workspaces
    cdef const floating[:, ::1] Xc = ws.Xc[:B]
    cdef floating[:, ::1] Z = ws.Z[:B]
    cdef floating[:, ::1] G = ws.G[:B]
    cdef int64_t[:, ::1] idx = ws.idx[: B * k].reshape(B, k)
    cdef floating[:, ::1] val = ws.val[: B * k].reshape(B, k)
    cdef floating[:, ::1] dz = ws.dz[: B * k].reshape(B, k)
    cdef int64_t[::1] starts = ws.starts
    cdef int64_t[::1] order = ws.order
    cdef floating[::1] gbe = ws.gbe
    cdef floating[::1] gbd = ws.gbd
    cdef floating[:, ::1] rows = ws.rows
    cdef floating[:, ::1] gbdpart = ws.gbdpart
    cdef double[::1] rowerr = ws.rowerr
    cdef char[::1] tkscratch = ws.tkscratch
    cdef int64_t* aidx = NULL
    cdef floating* aval = NULL
    cdef floating* adz = NULL
    cdef floating* resid = NULL
    cdef floating* Ga = NULL
    cdef floating* zbuf = NULL
    cdef double* auxerr = NULL
    cdef floating[::1] aval_v, adz_v
    cdef int64_t[::1] aidx_v
    cdef floating[:, ::1] resid_v, Ga_v, zbuf_v
    cdef double[::1] auxerr_v
    cdef Py_ssize_t nd = dead_units.shape[0]
    cdef int aux = nd > 0 and ka > 0
    if aux:
        aidx_v = ws.aidx
        aval_v = ws.aval
        adz_v = ws.adz
        resid_v = ws.resid
        Ga_v = ws.Ga
        zbuf_v = ws.zbuf
        auxerr_v = ws.auxerr
        aidx, aval, adz = &aidx_v[0], &aval_v[0], &adz_v[0]
        resid, Ga, zbuf, auxerr = &resid_v[0, 0], &Ga_v[0, 0], &zbuf_v[0, 0], &auxerr_v[0]

    cdef Py_ssize_t b, i, c, p, s, e, tid, c0, c1b
    cdef floating scale = <floating>(2.0 / (<double>B * <double>n))
    cdef floating fb1 = <floating>beta1, fb2 = <floating>beta2, fc1 = <floating>c1
    cdef floating fomb1 = 1 - fb1, fomb2 = 1 - fb2
    cdef floating fs2 = <floating>s2, feps = <floating>eps
    cdef floating fdecay = <floating>enc_decay
    cdef int decay = enc_decay != 1.0
    cdef int clip = out_lo > -INFINITY or out_hi < INFINITY
    cdef floating flo = <floating>out_lo, fhi = <floating>out_hi
    cdef floating acc, proj, nrm
    cdef floating* gd
    cdef floating* ge
    cdef floating* part
    cdef floating* rp
    cdef double total = 0.0
    cdef Py_ssize_t nblocks = (n + 127) // 128
    cdef int nt = ws.n_threads
    cdef int relu = ws.relu, normalize = ws.normalize, by_abs = ws.by_abs
    cdef double auxk_coef = ws.auxk_coef
    cdef Py_ssize_t nbk = B * k
    cdef Py_ssize_t nlb = (m + 15) // 16, lb, i1
    cdef double mse, auxv = 0.0, denom = 0.0, dd
    cdef floating gscale = 0
    cdef double* musum
    cdef double* dsum
    cdef Py_ssize_t tk_per = _scratch_bytes(m, sizeof(floating))
    cdef Py_ssize_t tk_groups = _n_groups(m, k)
    cdef int tk_level = ks_simd_get_level()
    cdef double min_spread = ws.auxk_min_spread
    cdef const floating* pdz = &dz[0, 0]
    cdef char* tk_base = &tkscratch[0]
    tk_base = tk_base + (64 - (<uintptr_t> tk_base) % 64) % 64
    with nogil:
        # 1. forward, per sample
        for b in prange(B, num_threads=nt, schedule="static"):
            if aux:
                rp = resid + b * n
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
            musum = auxerr
            dsum = auxerr + n
            for c in range(n):
                musum[c] = 0.0
                dsum[c] = 0.0
            for b in range(B):
                rp = resid + b * n
                for c in range(n):
                    musum[c] += rp[c]
            for c in range(n):
                musum[c] = musum[c] / B
            for b in range(B):
                rp = resid + b * n
                for c in range(n):
                    dd = rp[c] - musum[c]
                    dsum[c] += dd * dd
            for c in range(n):
                denom += dsum[c]
            # residuals that (nearly) do not vary across the batch carry nothing for AuxK
            # and would blow its normalised loss up: skip it (as ksparse.losses.AuxKLoss)
            if denom > min_spread * total:
                gscale = <floating>(2.0 * auxk_coef / denom)
                for b in prange(B, num_threads=nt, schedule="static"):
                    tid = threadid()
                    auxerr[b] = _st_row_aux(
                        resid + b * n, &Z[b, 0], &dead_units[0], nd, &W_dec[0, 0],
                        aidx + b * ka, aval + b * ka, adz + b * ka, Ga + b * n, zbuf + tid * m,
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
        # 2. firing counters: every unit += B (saturating at INT64_MAX), units selected
        #    with a nonzero value -> 0
        k_firing_update(&since[0], m, B, &idx[0, 0], &val[0, 0], nbk)
        # 3. inverse index: latent -> entries p (main code, ascending b, j), then
        #    nbk + p (AuxK code). An entry with value 0 and gradient 0 (a ReLU-zeroed
        #    unit) adds nothing to any gradient and is left out.
        k_group_by_unit(m, &idx[0, 0], &val[0, 0], &dz[0, 0], nbk,
                        aidx, aval, adz, B * ka if aux else 0, &starts[0], &order[0], NULL, k)
        # 4. bias gradients
        for i in range(m):
            acc = 0
            for p in range(starts[i], starts[i + 1]):
                if order[p] < nbk:
                    acc = acc + pdz[order[p]]
                else:
                    acc = acc + adz[order[p] - nbk]
            gbe[i] = acc
        for p in prange(nblocks, num_threads=nt, schedule="static"):
            c0 = p * 128
            c1b = c0 + 128
            if c1b > n:
                c1b = n
            for c in range(c0, c1b):
                gbd[c] = 0
            for b in range(B):
                k_add(c1b - c0, &G[b, c0], &gbd[c0])
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
                k_axpy(n, -gbe[i], &W_enc[i, 0], part)
            s = starts[i]
            e = starts[i + 1]
            if e > s:
                _st_latent_grads(gd, ge, &order[0], s, e, nbk, k, ka, n, &val[0, 0], &dz[0, 0], &G[0, 0],
                                 aval, adz, Ga, &Xc[0, 0])
                if normalize:
                    nrm = k_dot(n, &W_dec[i, 0], &W_dec[i, 0])
                    if nrm > 0:
                        proj = k_dot(n, gd, &W_dec[i, 0]) / nrm
                        k_axpy(n, -proj, &W_dec[i, 0], gd)
                k_adam_row(n, &W_dec[i, 0], gd, &mWd[i, 0], &vWd[i, 0], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
                if decay and since[i] == 0:
                    # decoupled weight decay of a unit that fired (AdamW): the Adam step
                    # does not depend on W_enc, so scaling first gives w d - step
                    k_scale(n, fdecay, &W_enc[i, 0])
                k_adam_row(n, &W_enc[i, 0], ge, &mWe[i, 0], &vWe[i, 0], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
                k_adam_row(1, &b_enc[i], &gbe[i], &mbe[i], &vbe[i], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
            elif not lazy:
                k_adam_row(n, &W_dec[i, 0], <floating*>NULL, &mWd[i, 0], &vWd[i, 0], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
                k_adam_row(n, &W_enc[i, 0], <floating*>NULL, &mWe[i, 0], &vWe[i, 0], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
                k_adam_row(1, &b_enc[i], <floating*>NULL, &mbe[i], &vbe[i], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
            if normalize and (e > s or not lazy):
                # unit norm; rows whose sum of squares over- or underflows are scaled first
                k_normalize_row(n, &W_dec[i, 0], 1)
        # the W_enc part of the decoder-bias gradient, block rows added in order
        for p in prange(nblocks, num_threads=nt, schedule="static"):
            c0 = p * 128
            c1b = c0 + 128
            if c1b > n:
                c1b = n
            for lb in range(nlb):
                k_add(c1b - c0, &gbdpart[lb, c0], &gbd[c0])
        # 6. decoder bias
        k_adam_row(n, &b_dec[0], &gbd[0], &mbd[0], &vbd[0], fb1, fomb1, fb2, fomb2, fc1, fs2, feps)
    return total, mse, auxv
