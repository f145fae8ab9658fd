// The per-image and per-pixel arithmetic of the CSL selection that the CPU
// kernels (csl_selection.cpp) and the CUDA kernels (csl_selection_cuda.cu)
// share, so that both compute one definition: the PyTorch code in
// mmseg_csl/models/selectors (docs/method.md, "Selection").
#pragma once

#include <math.h>

#ifdef __CUDACC__
#define CSL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CSL_HOST_DEVICE inline
#endif

namespace csl {

// Sums over the valid pixels of an image, in float64: count, sum x1, sum x2,
// sum x1^2, sum x2^2 (the cluster moments) and sum x1 x2 (with the squares, the
// Gram matrix X^T X).
constexpr int kImageSums = 6;
// The first five of them, over the pixels of the second cluster.
constexpr int kClusterSums = 5;

// The scaled residual variance s = scale * max(q + spread * r^2, 0) / (r + eps)
// of a pixel with residual mass r and residual squares q
// (scaled_residual_variance in confidence_features.py).
template <typename T>
CSL_HOST_DEVICE T scaled_variance_of(T mass, T squares, T spread, T scale, T eps) {
  const T centred = squares + spread * mass * mass;
  return (centred > 0 ? centred : T(0)) * scale / (mass + eps);
}

// Unit eigenvectors w1, w2 and square roots of the eigenvalues l1 >= l2 >= 0 of
// [[a, b], [b, d]], as symmetric_2x2_eigh in csl_selector.py.
struct Eigen2x2 {
  double w1[2], w2[2], sqrt_l1, sqrt_l2;
};

CSL_HOST_DEVICE Eigen2x2 symmetric_eigen(double a, double b, double d) {
  const double half_trace = (a + d) / 2;
  const double radius = hypot((a - d) / 2, b);
  const double l1 = half_trace + radius;
  const double l2 = fmax(half_trace - radius, 0.0);
  double x = l1 - d, y = b;
  if (hypot(x, y) < hypot(b, l1 - a)) {
    x = b;
    y = l1 - a;
  }
  const double norm = hypot(x, y);
  if (norm > 0) {
    x /= norm;
    y /= norm;
  } else {
    x = 1;
    y = 0;
  }
  return {{x, y}, {-y, x}, sqrt(fmax(l1, 0.0)), sqrt(l2)};
}

// The Gram matrix of an image's image sums, decomposed.
CSL_HOST_DEVICE Eigen2x2 image_eigen(const double* image_sums) {
  return symmetric_eigen(image_sums[3], image_sums[5], image_sums[4]);
}

// Whether the point (x1, x2) lies in the second cluster of the spectral split:
// |x.w1| sqrt(l2) < |x.w2| sqrt(l1) (spectral_split in csl_selector.py).
CSL_HOST_DEVICE bool in_second_cluster(double x1, double x2, const Eigen2x2& e) {
  return fabs(x1 * e.w1[0] + x2 * e.w1[1]) * e.sqrt_l2 <
         fabs(x1 * e.w2[0] + x2 * e.w2[1]) * e.sqrt_l1;
}

// Mean and unbiased variance (B, 2 each in csl_selector.py) of the reliable
// cluster, from an image's sums and those of its second cluster (the first's
// are the rest). The reliable cluster is the non-empty one with the larger mean
// first coordinate (reliable_is_second); an empty cluster has mean 0 and a
// cluster of fewer than two pixels variance 0 (masked_moments); an image without
// valid pixels gets mean (1, 0) and variance (1, 1) (no_pixel_fallback).
CSL_HOST_DEVICE void reliable_moments(const double* image_sums,
                                      const double* second_sums, double* center,
                                      double* center_var) {
  double clusters[2][kClusterSums];
  for (int t = 0; t < kClusterSums; ++t) {
    clusters[0][t] = image_sums[t] - second_sums[t];
    clusters[1][t] = second_sums[t];
  }
  double mean[2][2], variance[2][2];
  for (int j = 0; j < 2; ++j) {
    const double count = clusters[j][0];
    for (int f = 0; f < 2; ++f) {
      mean[j][f] = clusters[j][1 + f] / fmax(count, 1.0);
      variance[j][f] = fmax((clusters[j][3 + f] - count * mean[j][f] * mean[j][f]) /
                                fmax(count - 1, 1.0),
                            0.0);
    }
  }
  const bool second_wins =
      clusters[1][0] > 0 && (clusters[0][0] == 0 || mean[1][0] > mean[0][0]);
  const int reliable = second_wins ? 1 : 0;
  const bool empty = image_sums[0] == 0;
  for (int f = 0; f < 2; ++f) {
    center[f] = empty ? (f == 0 ? 1.0 : 0.0) : mean[reliable][f];
    center_var[f] = empty ? 1.0 : variance[reliable][f];
  }
}

// The exponent -(z1^2 + z2^2) / alpha of a pixel's Gaussian fall-off, and in
// `reliable` whether it lies on the reliable side (z1 > 0 or z2 > 0), with
// z1 = (x1 - mu1) / sd1 and z2 = (mu2 - x2) / sd2.
template <typename T>
CSL_HOST_DEVICE T boundary_exponent(T x1, T x2, T mu1, T mu2, T inv_sd1, T inv_sd2,
                                    T inverse_alpha, bool* reliable) {
  const T z1 = (x1 - mu1) * inv_sd1;
  const T z2 = (mu2 - x2) * inv_sd2;
  *reliable = (z1 > 0) | (z2 > 0);
  return -(z1 * z1 + z2 * z2) * inverse_alpha;
}

}  // namespace csl
