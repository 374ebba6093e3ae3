// The matrix multiply of the cluster benchmark, shared by the dsmkit job
// (dsm_cluster_node: each node its rows) and the plain reference
// (dsm_cluster_bench: one process, every row), so that both run the same
// loop compiled the same way. Header-only, no state; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsm_cluster {

// Square row-major matrices of dim x dim doubles.
// C[i][j] = sum_k A[i][k] * B[k][j] for rows row_begin <= i < row_end, in
// i-k-j order (the inner loop runs along rows of B and C: unit stride).
inline void MultiplyRows(const double* a, const double* b, double* c, size_t dim, size_t row_begin,
                         size_t row_end) {
  for (size_t i = row_begin; i < row_end; ++i) {
    double* ci = c + i * dim;
    for (size_t j = 0; j < dim; ++j) ci[j] = 0;
    for (size_t k = 0; k < dim; ++k) {
      const double aik = a[i * dim + k];
      const double* bk = b + k * dim;
      for (size_t j = 0; j < dim; ++j) ci[j] += aik * bk[j];
    }
  }
}

// Small integers, so every product and sum is exact and a result can be
// checked for equality; `seed` changes every element (a new pass writes
// every page).
inline double InitialA(size_t i, size_t k, uint64_t seed) {
  return static_cast<double>(static_cast<int64_t>((i * 3 + k + seed) % 5) - 2);
}
inline double InitialB(size_t k, size_t j, uint64_t seed) {
  return static_cast<double>(static_cast<int64_t>((k + 2 * j + seed) % 7) - 3);
}

// C[i][j] of the matrices above, computed from the formulas.
inline double ExpectedC(size_t dim, size_t i, size_t j, uint64_t seed) {
  double sum = 0;
  for (size_t k = 0; k < dim; ++k) sum += InitialA(i, k, seed) * InitialB(k, j, seed);
  return sum;
}

}  // namespace dsm_cluster
