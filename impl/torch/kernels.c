/*
 * optimspec.torch's fused CPU kernels: the legacy AdamW step and the Adafactor step, each over a
 * whole param group in one call, in as few passes over memory as the algorithm allows.
 *
 * Compiled once per machine by optimspec/torch/_kernels.py (which documents the build, the cache
 * and the fallback), twice from this one file: with REAL=float SUFFIX=f32 and REAL=double
 * SUFFIX=f64. Elementwise arithmetic is in REAL, in the reference's order, one IEEE rounding per
 * operation (built with -ffp-contract=off: no fused multiply-add). Reductions accumulate in
 * double over fixed blocks whose partial sums are added in a fixed order, so every result is the
 * same whatever the number of threads.
 *
 * Threads: OpenMP, sharing the runtime (and thread count) torch already loaded.
 */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h> /* sqrt of a float is sqrtf */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KERNEL(name) CAT(name, SUFFIX)

/* Elements per block: big enough to amortize scheduling, small enough to balance two threads. */
#define BLOCK 16384

typedef REAL real;

/* ------------------------------------------------------------------------------------------------
 * AdamW (transformers' legacy algorithm), every tensor of a group in one pass:
 *   m = m*b1 + (1-b1)*g;  v = v*b2 + (1-b2)*(g*g);  p = p + (-s)*(m/(sqrt(v)+eps));  p = p + decay*p
 * step_size[t] is the per-tensor s (float64, from the tensor's own step); decay = -lr*weight_decay
 * and has_decay says whether to apply it (transformers skips it unless weight_decay > 0).
 * ------------------------------------------------------------------------------------------------ */
void KERNEL(adamw)(int64_t n, real **param, real *const *grad, real **exp_avg, real **exp_avg_sq,
                   const int64_t *numel, const double *step_size, double beta1, double beta2,
                   double eps, double decay, int has_decay) {
    int64_t *first_block = malloc((size_t)(n + 1) * sizeof(int64_t));
    if (!first_block) return;
    first_block[0] = 0;
    for (int64_t t = 0; t < n; t++) first_block[t + 1] = first_block[t] + (numel[t] + BLOCK - 1) / BLOCK;
    const real b1 = (real)beta1, a1 = (real)(1.0 - beta1), b2 = (real)beta2, a2 = (real)(1.0 - beta2);
    const real e = (real)eps, dec = (real)decay;
    const int64_t blocks = first_block[n];

#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t t = 0;
        while (first_block[t + 1] <= b) t++;  /* few tensors per group: a scan beats a search */
        const int64_t start = (b - first_block[t]) * BLOCK;
        const int64_t stop = start + BLOCK < numel[t] ? start + BLOCK : numel[t];
        real *restrict p = param[t], *restrict m = exp_avg[t], *restrict v = exp_avg_sq[t];
        const real *restrict g = grad[t];
        const real neg_s = (real)(-step_size[t]);
        for (int64_t i = start; i < stop; i++) {
            real mi = m[i] * b1;
            mi = mi + a1 * g[i];
            real vi = v[i] * b2;
            vi = vi + a2 * (g[i] * g[i]);
            m[i] = mi;
            v[i] = vi;
            real pi = p[i] + neg_s * (mi / (sqrt(vi) + e));
            if (has_decay) pi = pi + dec * pi;
            p[i] = pi;
        }
    }
    free(first_block);
}

/* ------------------------------------------------------------------------------------------------
 * Adafactor (transformers' algorithm), one tensor at a time, every tensor of a group in one call.
 *
 * A factored tensor is seen as `batch` matrices of rows x cols (its last two dims); the others
 * (ndim < 2) as a vector of `numel` elements with a full second moment `sq`.
 *   U = g*g + eps1
 *   factored:  R = R*b + (1-b)*mean(U, cols);  C = C*b + (1-b)*mean(U, rows)
 *              u = ((1/sqrt(R/mean(R))) (x) (1/sqrt(C))) * g
 *   otherwise: V = V*b + (1-b)*U;  u = (1/sqrt(V)) * g
 *   rms_p = sqrt(sum p*p)/sqrt(n) (before the update; returned in `rms`, as transformers keeps it)
 *   alpha = max(eps2, rms_p)*rho if scale_parameter else rho      (a NaN rms gives eps2, as Python's max)
 *   u = u / max(1, (sqrt(sum u*u)/sqrt(n)) / clip);  u = u*alpha
 *   with beta1: M = M*beta1 + (1-beta1)*u;  u = M
 *   if weight_decay != 0: p = p + (-weight_decay*alpha)*p
 *   p = p - u
 * Passes over memory: statistics (reads g), sum of u*u (reads g, and p for rms_p when alpha needs
 * it), update (reads g and p, writes p; sums p*p when the previous pass did not); a vector's
 * statistics and sum of u*u are one pass. The second pass reads what the update pass reads next,
 * so for a tensor that fits the last-level cache the update mostly reads from cache.
 * ------------------------------------------------------------------------------------------------ */
typedef struct {
    int64_t numel;
    int64_t batch, rows, cols;  /* factored: batch x rows x cols (ignored for a vector) */
    int factored;
    real *param;
    const real *grad;
    real *row, *col;            /* factored statistics: batch x rows, batch x cols */
    real *sq;                   /* vector second moment: numel */
    real *exp_avg;              /* NULL without beta1 */
    double rho, beta2t;         /* per-tensor: they depend on the tensor's own step */
    double rms;                 /* out: rms_p (0 when not computed) */
} KERNEL(adafactor_tensor);

typedef struct {
    double eps1, eps2, clip_threshold, beta1, weight_decay;
    int scale_parameter, has_beta1;
} KERNEL(adafactor_hparams);

/* Rows per block of a rows x cols matrix, so that a block holds about BLOCK elements. */
static int64_t rows_per_block(int64_t cols) {
    int64_t r = BLOCK / (cols > 0 ? cols : 1);
    return r > 0 ? r : 1;
}

/* Rows per block of the statistics pass: at least STATISTICS_ROWS, so that its per-block column
 * sums (C doubles per block) stay a few percent of the gradient's bytes (with BLOCK elements per
 * block, a 768 x 3072 gradient needed 3.8 MB of them, zeroed and summed every step). */
#define STATISTICS_ROWS 64

/* Tensors above this many elements are shared among the threads (see KERNEL(adafactor)). */
#define SHARED_ABOVE (1 << 20)
static int64_t statistics_rows_per_block(int64_t cols) {
    int64_t r = rows_per_block(cols);
    return r > STATISTICS_ROWS ? r : STATISTICS_ROWS;
}

static double sum_in_order(const double *values, int64_t count) {
    double total = 0.0;
    for (int64_t i = 0; i < count; i++) total += values[i];
    return total;
}

/* Statistics of a factored tensor: R, C updated; row/col factors written; returns 0 on success. */
static int KERNEL(factored_statistics)(KERNEL(adafactor_tensor) *x, double eps1, real *row_factor,
                                        real *col_factor) {
    const int64_t B = x->batch, R = x->rows, C = x->cols, rpb = statistics_rows_per_block(C);
    const int64_t per_batch = (R + rpb - 1) / rpb, blocks = B * per_batch;
    double *row_sum = malloc((size_t)(B * R) * sizeof(double));
    double *col_part = calloc((size_t)(blocks * C), sizeof(double));
    if (!row_sum || !col_part) { free(row_sum); free(col_part); return -1; }
    const real e1 = (real)eps1;

#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t b = blk / per_batch, i0 = (blk % per_batch) * rpb;
        const int64_t i1 = i0 + rpb < R ? i0 + rpb : R;
        double *restrict cp = col_part + blk * C;
        for (int64_t i = i0; i < i1; i++) {
            const real *restrict g = x->grad + (b * R + i) * C;
            double acc = 0.0;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < C; j++) {
                real u = g[j] * g[j];
                u = u + e1;
                acc += (double)u;
                cp[j] += (double)u;
            }
            row_sum[b * R + i] = acc;
        }
    }

    const real b2 = (real)x->beta2t, a2 = (real)(1.0 - x->beta2t);
    for (int64_t b = 0; b < B; b++) {
        real *restrict row = x->row + b * R, *restrict col = x->col + b * C;
        double row_total = 0.0;
        for (int64_t i = 0; i < R; i++) {
            real r = row[i] * b2;
            r = r + a2 * (real)(row_sum[b * R + i] / (double)C);
            row[i] = r;
            row_total += (double)r;
        }
        const real row_mean = (real)(row_total / (double)R);
        for (int64_t i = 0; i < R; i++) row_factor[b * R + i] = (real)1 / sqrt(row[i] / row_mean);
        double *restrict col_sum = col_part + b * per_batch * C;  /* the batch's first block */
        for (int64_t k = 1; k < per_batch; k++) {
            const double *restrict part = col_sum + k * C;
            for (int64_t j = 0; j < C; j++) col_sum[j] += part[j];
        }
        for (int64_t j = 0; j < C; j++) {
            real c = col[j] * b2;
            c = c + a2 * (real)(col_sum[j] / (double)R);
            col[j] = c;
            col_factor[b * C + j] = (real)1 / sqrt(c);
        }
    }
    free(row_sum);
    free(col_part);
    return 0;
}

/* sum of u*u for a factored tensor (u = (rf_i*cf_j)*g_ij), into per-block partials; with
 * p_partial, also sum p*p per block (rms_p: read here, just before the update pass reads the same
 * g and p, rather than in the statistics pass). Returns the number of blocks. */
static int64_t KERNEL(factored_update_sumsq)(const KERNEL(adafactor_tensor) *x, const real *row_factor,
                                              const real *col_factor, double *partial, double *p_partial) {
    const int64_t B = x->batch, R = x->rows, C = x->cols, rpb = rows_per_block(C);
    const int64_t per_batch = (R + rpb - 1) / rpb, blocks = B * per_batch;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t b = blk / per_batch, i0 = (blk % per_batch) * rpb;
        const int64_t i1 = i0 + rpb < R ? i0 + rpb : R;
        const real *restrict cf = col_factor + b * C;
        double acc = 0.0, pa = 0.0;
        for (int64_t i = i0; i < i1; i++) {
            const real *restrict g = x->grad + (b * R + i) * C;
            const real rf = row_factor[b * R + i];
            if (p_partial) {
                const real *restrict p = x->param + (b * R + i) * C;
#pragma omp simd reduction(+ : acc, pa)
                for (int64_t j = 0; j < C; j++) {
                    real u = rf * cf[j];
                    u = u * g[j];
                    acc += (double)u * (double)u;
                    pa += (double)p[j] * (double)p[j];
                }
            } else {
#pragma omp simd reduction(+ : acc)
                for (int64_t j = 0; j < C; j++) {
                    real u = rf * cf[j];
                    u = u * g[j];
                    acc += (double)u * (double)u;
                }
            }
        }
        partial[blk] = acc;
        if (p_partial) p_partial[blk] = pa;
    }
    return blocks;
}

/* A vector's second moment update and sum of u*u in one pass (and sum p*p when wanted). */
static int64_t KERNEL(vector_statistics)(KERNEL(adafactor_tensor) *x, double eps1, int want_p,
                                          double *u_partial, double *p_partial) {
    const int64_t n = x->numel, blocks = (n + BLOCK - 1) / BLOCK;
    const real e1 = (real)eps1, b2 = (real)x->beta2t, a2 = (real)(1.0 - x->beta2t);
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t i0 = blk * BLOCK, i1 = i0 + BLOCK < n ? i0 + BLOCK : n;
        real *restrict v = x->sq;
        const real *restrict g = x->grad, *restrict p = x->param;
        double acc = 0.0, pa = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = i0; i < i1; i++) {
            real u = g[i] * g[i];
            u = u + e1;
            real vi = v[i] * b2;
            vi = vi + a2 * u;
            v[i] = vi;
            real w = ((real)1 / sqrt(vi)) * g[i];
            acc += (double)w * (double)w;
        }
        if (want_p) {
#pragma omp simd reduction(+ : pa)
            for (int64_t i = i0; i < i1; i++) pa += (double)p[i] * (double)p[i];
        }
        u_partial[blk] = acc;
        p_partial[blk] = pa;
    }
    return blocks;
}

/* The update of one element from its preconditioned gradient u (before clipping and alpha). */
static inline real KERNEL(update_element)(real u, real *m, real *p, real divisor, real alpha, int has_beta1,
                                          real beta1, real one_minus_beta1, int has_decay, real decay) {
    u = u / divisor;
    u = u * alpha;
    if (has_beta1) {
        real mj = *m * beta1;
        mj = mj + one_minus_beta1 * u;
        *m = mj;
        u = mj;
    }
    real pj = *p;
    if (has_decay) pj = pj + decay * pj;
    return pj - u;
}

/* The update pass: p (and M) from g and the factors (or V), with the tensor's scalars. With
 * p_partial, it also sums p*p of the params it reads (before updating them), per block; returns the
 * number of blocks. */
static int64_t KERNEL(apply)(const KERNEL(adafactor_tensor) *x, const KERNEL(adafactor_hparams) *h,
                             const real *row_factor, const real *col_factor, double clip_divisor,
                             double alpha, double *p_partial) {
    const real divisor = (real)clip_divisor, a = (real)alpha;
    const real beta1 = (real)h->beta1, one_minus_beta1 = (real)(1.0 - h->beta1);
    const real decay = (real)(-(h->weight_decay * alpha));
    const int has_decay = h->weight_decay != 0.0, has_beta1 = h->has_beta1;
    real *m_all = has_beta1 ? x->exp_avg : NULL;
    if (!x->factored) {
        const int64_t n = x->numel, blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (blocks > 1)
        for (int64_t blk = 0; blk < blocks; blk++) {
            const int64_t i1 = (blk + 1) * BLOCK < n ? (blk + 1) * BLOCK : n;
            double pa = 0.0;
#pragma omp simd reduction(+ : pa)
            for (int64_t i = blk * BLOCK; i < i1; i++) {
                const real u = ((real)1 / sqrt(x->sq[i])) * x->grad[i];
                pa += (double)x->param[i] * (double)x->param[i];
                x->param[i] = KERNEL(update_element)(u, has_beta1 ? m_all + i : NULL, x->param + i, divisor, a,
                                                     has_beta1, beta1, one_minus_beta1, has_decay, decay);
            }
            if (p_partial) p_partial[blk] = pa;
        }
        return blocks;
    }
    const int64_t R = x->rows, C = x->cols, total_rows = x->batch * R;
    const int64_t rpb = rows_per_block(C), blocks = (total_rows + rpb - 1) / rpb;
    if (p_partial) memset(p_partial, 0, (size_t)blocks * sizeof(double));
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t r1 = (blk + 1) * rpb < total_rows ? (blk + 1) * rpb : total_rows;
        for (int64_t r = blk * rpb; r < r1; r++) {
            const real rf = row_factor[r], *restrict cf = col_factor + (r / R) * C;
            real *restrict p = x->param + r * C;
            const real *restrict g = x->grad + r * C;
            double pa = 0.0;
            if (!has_beta1 && !has_decay) {  /* the common case, as one branch-free vector loop */
#pragma omp simd reduction(+ : pa)
                for (int64_t j = 0; j < C; j++) {
                    real u = rf * cf[j];
                    u = u * g[j];
                    u = u / divisor;
                    u = u * a;
                    pa += (double)p[j] * (double)p[j];
                    p[j] = p[j] - u;
                }
            } else {
                real *m = has_beta1 ? m_all + r * C : NULL;
                for (int64_t j = 0; j < C; j++) {
                    real u = rf * cf[j];
                    u = u * g[j];
                    pa += (double)p[j] * (double)p[j];
                    p[j] = KERNEL(update_element)(u, has_beta1 ? m + j : NULL, p + j, divisor, a, has_beta1, beta1,
                                                  one_minus_beta1, has_decay, decay);
                }
            }
            if (p_partial) p_partial[blk] += pa;
        }
    }
    return blocks;
}

/* The step of one tensor (0, or -1 when scratch memory ran out, before the tensor was touched).
 * Its loops share the tensor among threads when called outside a parallel region, and run on the
 * calling thread inside one. */
static int KERNEL(adafactor_one)(KERNEL(adafactor_tensor) *x, const KERNEL(adafactor_hparams) *h) {
    const int64_t numel = x->numel;
    if (numel == 0) return 0;
    const int64_t rpb = rows_per_block(x->cols);
    const int64_t max_blocks = (x->factored ? x->batch * ((x->rows + rpb - 1) / rpb) : 0) + (numel + BLOCK - 1) / BLOCK;
    double *u_partial = malloc((size_t)max_blocks * sizeof(double));
    double *p_partial = malloc((size_t)max_blocks * sizeof(double));
    real *factors = x->factored ? malloc((size_t)(x->batch * (x->rows + x->cols)) * sizeof(real)) : NULL;
    if (!u_partial || !p_partial || (x->factored && !factors) ||
        (x->factored && KERNEL(factored_statistics)(x, h->eps1, factors, factors + x->batch * x->rows))) {
        free(u_partial); free(p_partial); free(factors);
        return -1;
    }
    real *row_factor = factors, *col_factor = factors ? factors + x->batch * x->rows : NULL;
    const int64_t blocks = x->factored
        ? KERNEL(factored_update_sumsq)(x, row_factor, col_factor, u_partial, h->scale_parameter ? p_partial : NULL)
        : KERNEL(vector_statistics)(x, h->eps1, h->scale_parameter, u_partial, p_partial);
    const double u_sumsq = sum_in_order(u_partial, blocks);
    const double root_n = sqrt((double)numel);
    double alpha = x->rho;
    if (h->scale_parameter) {
        x->rms = sqrt(sum_in_order(p_partial, blocks)) / root_n;
        alpha = (x->rms > h->eps2 ? x->rms : h->eps2) * x->rho;
    }
    const double ratio = (sqrt(u_sumsq) / root_n) / h->clip_threshold;
    const double divisor = isnan(ratio) ? ratio : (ratio > 1.0 ? ratio : 1.0);
    /* Without scale_parameter alpha does not need rms_p before the update pass, which then reads p
     * anyway: it sums p*p there instead of in a pass of its own. */
    const int64_t apply_blocks = KERNEL(apply)(x, h, row_factor, col_factor, divisor, alpha, h->scale_parameter ? NULL : p_partial);
    if (!h->scale_parameter) x->rms = sqrt(sum_in_order(p_partial, apply_blocks)) / root_n;
    free(u_partial);
    free(p_partial);
    free(factors);
    return 0;
}

typedef struct {
    int64_t numel, index;
} sized;

static int larger_first(const void *a, const void *b) {
    const sized *x = a, *y = b;
    return x->numel != y->numel ? (x->numel < y->numel ? 1 : -1) : (x->index > y->index) - (x->index < y->index);
}

/* The whole Adafactor step for n tensors. Returns 0, or -1 when scratch memory ran out (the
 * caller raises MemoryError).
 *
 * Threads: a tensor of more than SHARED_ABOVE elements, or more than half a thread's fair share,
 * is shared among all threads, one tensor at a time, so that one tensor's g and p (not one per
 * thread) compete for the shared cache between its passes; the others are dealt out whole,
 * largest first to the least loaded thread, and each thread steps its own in one parallel region.
 * So a step waits at three barriers per shared tensor and one for all the others, which matters
 * when other processes hold a core. Results do not depend on
 * who steps a tensor (each is summed per fixed block, in block order). */
int KERNEL(adafactor)(int64_t n, KERNEL(adafactor_tensor) *tensors, const KERNEL(adafactor_hparams) *h) {
    const int threads = omp_get_max_threads();
    sized *order = malloc((size_t)(n > 0 ? n : 1) * sizeof(sized));
    int *owner = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    int64_t *load = calloc((size_t)threads, sizeof(int64_t));
    if (!order || !owner || !load) { free(order); free(owner); free(load); return -1; }
    int64_t total = 0;
    for (int64_t t = 0; t < n; t++) total += tensors[t].numel;
    const int64_t fair = threads > 1 ? total / (2 * threads) : INT64_MAX;
    const int64_t shared_above = fair < SHARED_ABOVE ? fair : SHARED_ABOVE;
    for (int64_t t = 0; t < n; t++) order[t] = (sized){tensors[t].numel, t};
    qsort(order, (size_t)n, sizeof(sized), larger_first);
    for (int64_t k = 0; k < n; k++) {
        int least = 0;
        for (int i = 1; i < threads; i++) least = load[i] < load[least] ? i : least;
        owner[order[k].index] = order[k].numel > shared_above ? -1 : least;
        if (owner[order[k].index] >= 0) load[least] += order[k].numel;
    }
    int failed = 0;
#pragma omp parallel if (threads > 1) reduction(| : failed)
    {
        const int me = omp_get_thread_num(), team = omp_get_num_threads();
        for (int64_t k = 0; k < n; k++) {
            const int64_t t = order[k].index;
            if (owner[t] >= 0 && owner[t] % team == me) failed |= KERNEL(adafactor_one)(&tensors[t], h) != 0;
        }
    }
    for (int64_t k = 0; k < n; k++) {
        if (owner[order[k].index] < 0) failed |= KERNEL(adafactor_one)(&tensors[order[k].index], h) != 0;
    }
    free(order);
    free(owner);
    free(load);
    return failed ? -1 : 0;
}
