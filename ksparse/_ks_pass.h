/*
 * One instantiation pass of a type-generic kernel body (no include guard).
 *
 * A kernel header writes each body once and includes itself twice, with
 * KS_PASS 1 (float) and 2 (double), then once with KS_PASS 0 to clean up:
 *
 *     #define KS_PASS 1
 *     #include "_ks_pass.h"
 *     #include "this_header.h"
 *
 * In a pass: KS_T is the element type, KS_N(name) its mangled name (name_f,
 * name_d), KS_FS / KS_FX / KS_FY its scalar / SSE2 / AVX vector families (see
 * _ks_simd.h), KS_T_MIN / KS_T_EPS its smallest normal number and epsilon.
 * Bodies compiled once per instruction set add a second pass, KS_ISA 0 (base)
 * or 2 (AVX2 target attribute): KS_I(name) is then name_f_base, name_f_avx2 ...
 */
#undef KS_T
#undef KS_TSFX
#undef KS_FS
#undef KS_FX
#undef KS_FY
#undef KS_T_MIN
#undef KS_T_EPS
#undef KS_N
#if KS_PASS == 1
#define KS_T float
#define KS_TSFX _f
#define KS_FS KS_SF
#define KS_FX KS_XF
#define KS_FY KS_YF
#define KS_T_MIN FLT_MIN
#define KS_T_EPS FLT_EPSILON
#define KS_N(name) KS_CAT(name, _f)
#elif KS_PASS == 2
#define KS_T double
#define KS_TSFX _d
#define KS_FS KS_SD
#define KS_FX KS_XD
#define KS_FY KS_YD
#define KS_T_MIN DBL_MIN
#define KS_T_EPS DBL_EPSILON
#define KS_N(name) KS_CAT(name, _d)
#endif
