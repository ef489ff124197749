/*
 * One instruction-set pass of a body compiled twice from the same C source
 * (no include guard): KS_ISA 0 is the base build, KS_ISA 2 the AVX2 build
 * (target attribute; only called when ks_simd.level >= KS_SIMD_AVX2).
 * KS_ISA_ATTR is the attribute, KS_I(name) the mangled name: name_f_base,
 * name_f_avx2, name_d_base ...  KS_ISA -1 cleans up.
 */
#undef KS_ISA_ATTR
#undef KS_I
#if KS_ISA == 0
#define KS_ISA_ATTR
#define KS_I(name) KS_CAT(KS_N(name), _base)
#elif KS_ISA == 2
#define KS_ISA_ATTR KS_TARGET_AVX2
#define KS_I(name) KS_CAT(KS_N(name), _avx2)
#endif
