// CUDA kernels of the CSL selector: the same two functions as the CPU kernels in
// csl_selection.cpp (confidence_features and csl_weights), sharing their
// arithmetic through csl_selection_math.h.
//
// Eager PyTorch runs the selection as about a hundred small kernels, each a
// launch and a pass over memory; here it is five kernels. One reads the
// (B, K, N) probabilities once (a second reduces its value summary); three light
// passes over the (B, N) points find each image's Gram matrix, its second
// cluster's moments and the weights; the (log c, -s) points of the masking
// variant they compute from the features as they read them. Every pass leaves
// one partial sum per block and image (float64), which the next pass reduces in
// a fixed order: no atomics, so the result does not depend on the order in
// which blocks run.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <algorithm>
#include <vector>

#include "csl_selection_math.h"

namespace csl {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Pixels per thread: one in the pass over the probabilities, which needs many
// loads in flight; eight in the light passes, whose blocks leave partial sums
// that every block of the next pass reads.
constexpr int kFeaturePixels = 1;
constexpr int kPointPixels = 8;
// The value summary of confidence_features: low, high, worst |sum - 1|, has_nan.
constexpr int kSummary = 4;

struct Add {
  __device__ double operator()(double a, double b) const { return a + b; }
};
// Min and max that keep the first operand when the other is NaN, as the CPU
// kernel's std::min/std::max: NaN is reported by has_nan, not by low/high.
struct Min {
  __device__ double operator()(double a, double b) const { return b < a ? b : a; }
};
struct Max {
  __device__ double operator()(double a, double b) const { return a < b ? b : a; }
};

// Reduces value[t] over the block with op t (warp shuffles, then one warp over
// the warps' results, in a fixed order); the result is valid in thread 0.
template <int Size, typename... Ops>
__device__ void block_reduce(double (&value)[Size], double (*shared)[kWarps],
                             Ops... ops) {
  static_assert(sizeof...(Ops) == Size, "one operation per value");
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int t = 0;
  auto warp_reduce = [&](auto op) {
    for (int offset = 16; offset > 0; offset /= 2) {
      value[t] = op(value[t], __shfl_down_sync(0xffffffffu, value[t], offset));
    }
    ++t;
  };
  (warp_reduce(ops), ...);
  if (lane == 0) {
    for (int i = 0; i < Size; ++i) shared[i][warp] = value[i];
  }
  __syncthreads();
  if (warp == 0) {
    t = 0;
    auto final_reduce = [&](auto op) {
      double v = shared[t][0];
      for (int w = 1; w < kWarps; ++w) v = op(v, shared[t][w]);
      value[t] = v;
      ++t;
    };
    (final_reduce(ops), ...);
  }
  __syncthreads();
}

// The sum over an image's `parts` (its blocks' partial sums, `count` of them,
// Size values each), into `total` of every thread of the block. Thread j adds
// parts j, j + kThreads, ... and the block then reduces in a fixed order.
template <int Size>
__device__ void image_total(const double* parts, int64_t count, double (*shared)[kWarps],
                            double* broadcast, double (&total)[Size]) {
  for (int t = 0; t < Size; ++t) total[t] = 0;
  for (int64_t p = threadIdx.x; p < count; p += kThreads) {
    for (int t = 0; t < Size; ++t) total[t] += parts[p * Size + t];
  }
  if constexpr (Size == kImageSums) {
    block_reduce(total, shared, Add(), Add(), Add(), Add(), Add(), Add());
  } else {
    block_reduce(total, shared, Add(), Add(), Add(), Add(), Add());
  }
  if (threadIdx.x == 0) {
    for (int t = 0; t < Size; ++t) broadcast[t] = total[t];
  }
  __syncthreads();
  for (int t = 0; t < Size; ++t) total[t] = broadcast[t];
}

// A pixel's point from what csl_weights_cuda receives: (x1, x2) itself or, with
// `log_points`, (log(1 - r), -s) from the residual mass r in x1 and s in x2
// (CSLSelector.points). The log reads 0 on invalid pixels, whose r may exceed 1.
template <typename T>
__device__ void point_of(T x1, T x2, bool valid, bool log_points, T* p1, T* p2) {
  *p1 = !log_points ? x1 : valid ? T(log1p(-x1)) : T(0);
  *p2 = log_points ? -x2 : x2;
}

// The pixel that thread `threadIdx.x` handles at `step` of its block, whose
// threads handle `per_thread` pixels each.
__device__ int64_t pixel_at(int step, int per_thread) {
  return (int64_t(blockIdx.x) * per_thread + step) * kThreads + threadIdx.x;
}

__device__ int64_t part_index() { return int64_t(blockIdx.y) * gridDim.x + blockIdx.x; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
    features_kernel(const T* __restrict__ probs, const bool* __restrict__ valid,
                    int64_t num_classes, int64_t num_pixels, T spread, T scale, T eps,
                    T* __restrict__ max_conf, int64_t* __restrict__ label,
                    T* __restrict__ res_var, T* __restrict__ mass,
                    double* __restrict__ summary_parts) {
  __shared__ double shared[kSummary][kWarps];
  const int64_t image = blockIdx.y;
  double summary[kSummary] = {INFINITY, -INFINITY, -1, 0};
  for (int step = 0; step < kFeaturePixels; ++step) {
    const int64_t i = pixel_at(step, kFeaturePixels);
    if (i >= num_pixels) break;
    // Ties keep the first index as label and count the tied slots as residual,
    // as class_pass in csl_selection.cpp.
    const T* p = probs + image * num_classes * num_pixels + i;
    T conf = p[0], low = conf, residual = 0, squares = 0;
    int64_t arg = 0;
#pragma unroll 8
    for (int64_t k = 1; k < num_classes; ++k) {
      const T x = p[k * num_pixels];
      const bool above = x > conf;
      const T moved = above ? conf : x;
      residual += moved;
      squares += moved * moved;
      arg = above ? k : arg;
      conf = above ? x : conf;
      low = x < low ? x : low;
    }
    const int64_t at = image * num_pixels + i;
    max_conf[at] = conf;
    label[at] = arg;
    mass[at] = residual;
    res_var[at] = scaled_variance_of(residual, squares, spread, scale, eps);
    const T total = conf + residual;
    summary[0] = Min()(summary[0], double(low));
    summary[1] = Max()(summary[1], double(conf));
    if (valid[at]) summary[2] = Max()(summary[2], double(fabs(total - T(1))));
    summary[3] = isnan(total) ? 1.0 : summary[3];
  }
  block_reduce(summary, shared, Min(), Max(), Max(), Max());
  if (threadIdx.x == 0) {
    for (int t = 0; t < kSummary; ++t) summary_parts[part_index() * kSummary + t] = summary[t];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    image_sums_kernel(const T* __restrict__ x1, const T* __restrict__ x2,
                      const bool* __restrict__ valid, int64_t num_pixels,
                      bool log_points, double* __restrict__ parts) {
  __shared__ double shared[kImageSums][kWarps];
  double sums[kImageSums] = {0, 0, 0, 0, 0, 0};
  for (int step = 0; step < kPointPixels; ++step) {
    const int64_t i = pixel_at(step, kPointPixels);
    if (i >= num_pixels) break;
    const int64_t at = blockIdx.y * num_pixels + i;
    T p1, p2;
    point_of(x1[at], x2[at], valid[at], log_points, &p1, &p2);
    const double member = valid[at], c = member * p1, s = member * p2;
    const double terms[kImageSums] = {member, c, s, c * c, s * s, c * s};
    for (int t = 0; t < kImageSums; ++t) sums[t] += terms[t];
  }
  block_reduce(sums, shared, Add(), Add(), Add(), Add(), Add(), Add());
  if (threadIdx.x == 0) {
    for (int t = 0; t < kImageSums; ++t) parts[part_index() * kImageSums + t] = sums[t];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    second_cluster_kernel(const T* __restrict__ x1, const T* __restrict__ x2,
                          const bool* __restrict__ valid, int64_t num_pixels,
                          bool log_points, const double* __restrict__ image_parts,
                          double* __restrict__ parts) {
  __shared__ double shared[kImageSums][kWarps];
  __shared__ double broadcast[kImageSums];
  double image[kImageSums];
  image_total(image_parts + int64_t(blockIdx.y) * gridDim.x * kImageSums, gridDim.x,
              shared, broadcast, image);
  const Eigen2x2 eigen = image_eigen(image);
  double sums[kClusterSums] = {0, 0, 0, 0, 0};
  for (int step = 0; step < kPointPixels; ++step) {
    const int64_t i = pixel_at(step, kPointPixels);
    if (i >= num_pixels) break;
    const int64_t at = blockIdx.y * num_pixels + i;
    T p1, p2;
    point_of(x1[at], x2[at], valid[at], log_points, &p1, &p2);
    const double c = p1, s = p2;
    const double member = valid[at] && in_second_cluster(c, s, eigen);
    const double terms[kClusterSums] = {member, member * c, member * s, member * c * c,
                                        member * s * s};
    for (int t = 0; t < kClusterSums; ++t) sums[t] += terms[t];
  }
  block_reduce(sums, shared, Add(), Add(), Add(), Add(), Add());
  if (threadIdx.x == 0) {
    for (int t = 0; t < kClusterSums; ++t) parts[part_index() * kClusterSums + t] = sums[t];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    weights_kernel(const T* __restrict__ x1, const T* __restrict__ x2,
                   const bool* __restrict__ valid, int64_t num_pixels, bool log_points,
                   const double* __restrict__ image_parts,
                   const double* __restrict__ second_parts, T eps, T inverse_alpha,
                   T* __restrict__ weight, T* __restrict__ center,
                   T* __restrict__ center_var) {
  __shared__ double shared[kImageSums][kWarps];
  __shared__ double broadcast[kImageSums];
  double image[kImageSums], second[kClusterSums];
  const int64_t first_part = int64_t(blockIdx.y) * gridDim.x;
  image_total(image_parts + first_part * kImageSums, gridDim.x, shared, broadcast, image);
  image_total(second_parts + first_part * kClusterSums, gridDim.x, shared, broadcast,
              second);
  double mean[2], variance[2];
  reliable_moments(image, second, mean, variance);
  // In T from here, as the CPU kernel, which stores the centre in T first.
  const T mu1 = static_cast<T>(mean[0]), mu2 = static_cast<T>(mean[1]);
  const T var1 = static_cast<T>(variance[0]), var2 = static_cast<T>(variance[1]);
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    center[2 * blockIdx.y] = mu1;
    center[2 * blockIdx.y + 1] = mu2;
    center_var[2 * blockIdx.y] = var1;
    center_var[2 * blockIdx.y + 1] = var2;
  }
  const T inv_sd1 = T(1) / sqrt(var1 + eps), inv_sd2 = T(1) / sqrt(var2 + eps);
  for (int step = 0; step < kPointPixels; ++step) {
    const int64_t i = pixel_at(step, kPointPixels);
    if (i >= num_pixels) break;
    const int64_t at = blockIdx.y * num_pixels + i;
    T p1, p2;
    point_of(x1[at], x2[at], valid[at], log_points, &p1, &p2);
    bool reliable;
    const T exponent =
        boundary_exponent(p1, p2, mu1, mu2, inv_sd1, inv_sd2, inverse_alpha, &reliable);
    weight[at] = !valid[at] ? T(0) : reliable ? T(1) : exp(exponent);
  }
}

// Reduces the per-block value summaries of features_kernel to one (4,) summary.
__global__ void __launch_bounds__(kThreads)
    summary_kernel(const double* __restrict__ parts, int64_t count,
                   double* __restrict__ summary) {
  __shared__ double shared[kSummary][kWarps];
  double value[kSummary] = {INFINITY, -INFINITY, -1, 0};
  for (int64_t p = threadIdx.x; p < count; p += kThreads) {
    value[0] = Min()(value[0], parts[p * kSummary]);
    value[1] = Max()(value[1], parts[p * kSummary + 1]);
    value[2] = Max()(value[2], parts[p * kSummary + 2]);
    value[3] = Max()(value[3], parts[p * kSummary + 3]);
  }
  block_reduce(value, shared, Min(), Max(), Max(), Max());
  if (threadIdx.x == 0) {
    for (int t = 0; t < kSummary; ++t) summary[t] = value[t];
  }
}

dim3 grid_for(int64_t batch, int64_t num_pixels, int per_thread) {
  const int64_t per_block = int64_t(kThreads) * per_thread;
  const int64_t blocks = std::max<int64_t>(1, (num_pixels + per_block - 1) / per_block);
  TORCH_CHECK(batch <= 65535, "the CUDA CSL kernels take at most 65535 images");
  return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(batch));
}

}  // namespace

std::vector<at::Tensor> confidence_features_cuda(const at::Tensor& probs_in,
                                                 const at::Tensor& valid_in, bool exact,
                                                 double g_alpha, double eps) {
  const c10::cuda::CUDAGuard guard(probs_in.device());
  const at::Tensor probs = probs_in.contiguous();
  const at::Tensor valid = valid_in.contiguous();
  const int64_t batch = probs.size(0), num_classes = probs.size(1),
                num_pixels = probs.size(2);
  at::Tensor max_conf = at::empty({batch, num_pixels}, probs.options());
  at::Tensor res_var = at::empty_like(max_conf);
  at::Tensor residual_mass = at::empty_like(max_conf);
  at::Tensor label = at::empty({batch, num_pixels}, probs.options().dtype(at::kLong));
  const dim3 grid = grid_for(batch, num_pixels, kFeaturePixels);
  const int64_t num_parts = int64_t(grid.x) * grid.y;
  const auto doubles = probs.options().dtype(at::kDouble);
  at::Tensor parts = at::empty({num_parts, kSummary}, doubles);
  at::Tensor summary = at::empty({kSummary}, doubles);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "confidence_features_cuda", [&] {
    using T = scalar_t;
    const T dof = static_cast<T>(num_classes - 1);
    features_kernel<T><<<grid, kThreads, 0, stream>>>(
        probs.data_ptr<T>(), valid.data_ptr<bool>(), num_classes, num_pixels,
        (exact ? T(0) : 1 / (dof * dof)) - 1 / dof, static_cast<T>(g_alpha) * dof / 2,
        static_cast<T>(eps), max_conf.data_ptr<T>(), label.data_ptr<int64_t>(),
        res_var.data_ptr<T>(), residual_mass.data_ptr<T>(), parts.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  summary_kernel<<<1, kThreads, 0, stream>>>(parts.data_ptr<double>(), num_parts,
                                             summary.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {max_conf, label, res_var, residual_mass, summary};
}

std::vector<at::Tensor> csl_weights_cuda(const at::Tensor& x1_in, const at::Tensor& x2_in,
                                         const at::Tensor& valid_in, double alpha,
                                         double eps, bool log_points) {
  const c10::cuda::CUDAGuard guard(x1_in.device());
  const at::Tensor x1 = x1_in.contiguous();
  const at::Tensor x2 = x2_in.contiguous();
  const at::Tensor valid = valid_in.contiguous();
  const int64_t batch = x1.size(0), num_pixels = x1.size(1);
  const dim3 grid = grid_for(batch, num_pixels, kPointPixels);
  const int64_t num_parts = int64_t(grid.x) * grid.y;
  const auto doubles = x1.options().dtype(at::kDouble);
  at::Tensor image_parts = at::empty({num_parts, kImageSums}, doubles);
  at::Tensor second_parts = at::empty({num_parts, kClusterSums}, doubles);
  at::Tensor weight = at::empty_like(x1);
  at::Tensor center = at::empty({batch, 2}, x1.options());
  at::Tensor center_var = at::empty_like(center);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x1.scalar_type(), "csl_weights_cuda", [&] {
    using T = scalar_t;
    const T* a = x1.data_ptr<T>();
    const T* b = x2.data_ptr<T>();
    const bool* mask = valid.data_ptr<bool>();
    image_sums_kernel<T><<<grid, kThreads, 0, stream>>>(
        a, b, mask, num_pixels, log_points, image_parts.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    second_cluster_kernel<T><<<grid, kThreads, 0, stream>>>(
        a, b, mask, num_pixels, log_points, image_parts.data_ptr<double>(),
        second_parts.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    weights_kernel<T><<<grid, kThreads, 0, stream>>>(
        a, b, mask, num_pixels, log_points, image_parts.data_ptr<double>(),
        second_parts.data_ptr<double>(), static_cast<T>(eps), static_cast<T>(1 / alpha),
        weight.data_ptr<T>(), center.data_ptr<T>(), center_var.data_ptr<T>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {weight, center, center_var};
}

}  // namespace csl
