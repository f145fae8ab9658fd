// Fused CPU kernels of the CSL selector (Liu & Liu, ICCV 2025, arXiv 2509.16704;
// docs/method.md states the selection formula by formula).
//
// The PyTorch implementation in mmseg_csl/models/selectors is the definition and
// serves every device; these kernels compute the same quantities on CPU tensors in
// one read of the (B, K, H, W) probabilities and three light passes over the
// (B, N) features, where eager PyTorch needs a dozen passes and their temporaries.
// Tests compare the two. csl_selection_cuda.cu holds the CUDA kernels of the same
// two functions (built where CUDA is, see setup.py); csl_selection_math.h the
// arithmetic that both share.
//
// The hot loops are compiled twice (target_clones): for AVX2, where GCC vectorises
// them, and for the baseline x86-64/other ISA, chosen at load time.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "csl_selection_math.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CSL_HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define CSL_HOT_LOOP
#endif

namespace {

// Pixels of one task of the class-wise pass: its accumulators stay in L1 cache.
constexpr int64_t kClassBlock = 512;
// Pixels of one task of the per-pixel passes.
constexpr int64_t kPixelBlock = 1 << 15;

// The bits of `from` as a `To` (std::bit_cast, which is C++20: PyTorch before
// 2.12 builds extensions as C++17). GCC compiles the copy to a register move.
template <typename To, typename From>
inline To bits_as(From from) {
  static_assert(sizeof(To) == sizeof(From), "bits_as needs types of one size");
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

// `condition ? a : b` as a bitwise blend. Written as a ternary, GCC turns
// `x[i] = c ? y : x[i]` into masked stores, which stall the next read of x[i].
template <typename T>
inline T pick(bool condition, T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  const Bits mask = Bits(0) - Bits(condition);
  return bits_as<T>(Bits((bits_as<Bits>(a) & mask) | (bits_as<Bits>(b) & ~mask)));
}

// Max, first arg-max, and mass and squares of the other classes of `len` pixels
// whose class planes lie `stride` apart, plus the smallest value seen. A class
// equal to the running maximum stays residual, so ties keep the first index as
// label and count the tied slots as residual.
template <typename T>
CSL_HOT_LOOP void class_pass(const T* __restrict__ probs, int64_t num_classes,
                             int64_t stride, int64_t len, T* __restrict__ max_conf,
                             int32_t* __restrict__ label, T* __restrict__ mass,
                             T* __restrict__ squares, T* __restrict__ low) {
  for (int64_t i = 0; i < len; ++i) {
    max_conf[i] = low[i] = probs[i];
    label[i] = 0;
    mass[i] = squares[i] = 0;
  }
  for (int64_t k = 1; k < num_classes; ++k) {
    const T* __restrict__ plane = probs + k * stride;
    const int32_t k32 = static_cast<int32_t>(k);
    for (int64_t i = 0; i < len; ++i) {
      const T p = plane[i], current = max_conf[i];
      const bool above = p > current;
      const T moved = pick(above, current, p);
      mass[i] += moved;
      squares[i] += moved * moved;
      max_conf[i] = pick(above, p, current);
      label[i] = pick(above, k32, label[i]);
      low[i] = pick(p < low[i], p, low[i]);
    }
  }
}

template <typename T>
CSL_HOT_LOOP void scaled_variance(const T* __restrict__ mass,
                                  const T* __restrict__ squares, int64_t len,
                                  T spread, T scale, T eps, T* __restrict__ out) {
  for (int64_t i = 0; i < len; ++i) {
    out[i] = csl::scaled_variance_of(mass[i], squares[i], spread, scale, eps);
  }
}

// What the input checks need from the probabilities.
struct ValueSummary {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  double worst_sum_error = -1;  // largest |sum - 1| over valid pixels
  bool has_nan = false;

  void merge(const ValueSummary& other) {
    low = std::min(low, other.low);
    high = std::max(high, other.high);
    worst_sum_error = std::max(worst_sum_error, other.worst_sum_error);
    has_nan = has_nan || other.has_nan;
  }
};

template <typename T>
ValueSummary features_block(const T* probs, const bool* valid, int64_t num_classes,
                            int64_t stride, int64_t len, bool exact, double g_alpha,
                            double eps, T* max_conf, int64_t* label, T* res_var,
                            T* mass) {
  T squares[kClassBlock], low[kClassBlock];
  int32_t arg[kClassBlock];
  class_pass<T>(probs, num_classes, stride, len, max_conf, arg, mass, squares, low);
  const T dof = static_cast<T>(num_classes - 1);
  scaled_variance<T>(mass, squares, len, (exact ? T(0) : 1 / (dof * dof)) - 1 / dof,
                     static_cast<T>(g_alpha) * dof / 2, static_cast<T>(eps),
                     res_var);
  ValueSummary summary;
  for (int64_t i = 0; i < len; ++i) {
    label[i] = arg[i];
    const T total = max_conf[i] + mass[i];
    summary.low = std::min<double>(summary.low, low[i]);
    summary.high = std::max<double>(summary.high, max_conf[i]);
    summary.has_nan |= std::isnan(total);
    if (valid[i]) {
      summary.worst_sum_error =
          std::max<double>(summary.worst_sum_error, std::abs(total - 1));
    }
  }
  return summary;
}

int64_t blocks_per_image(int64_t num_pixels, int64_t block_size) {
  return std::max<int64_t>(1, (num_pixels + block_size - 1) / block_size);
}

// Runs `block(b, start, end)` over every image's pixels in parallel tasks and
// returns the tasks' results image-major, so that reductions over them are
// deterministic whatever the thread count.
template <typename Result, typename Fn>
std::vector<Result> for_pixel_blocks(int64_t batch, int64_t num_pixels,
                                     int64_t block_size, const Fn& block) {
  const int64_t per_image = blocks_per_image(num_pixels, block_size);
  std::vector<Result> results(batch * per_image);
  at::parallel_for(0, batch * per_image, 1, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t b = task / per_image;
      const int64_t start = (task % per_image) * block_size;
      results[task] = block(b, start, std::min(start + block_size, num_pixels));
    }
  });
  return results;
}

void check_batch(const at::Tensor& values, const at::Tensor& valid) {
  TORCH_CHECK(values.device() == valid.device(),
              "the fused CSL kernels take tensors on one device");
  TORCH_CHECK(values.dim() == 3 && valid.dim() == 2, "expected (B, C, N) and (B, N)");
  TORCH_CHECK(valid.scalar_type() == at::kBool, "valid must be bool");
  TORCH_CHECK(values.size(0) == valid.size(0) && values.size(2) == valid.size(1),
              "the values and valid disagree in shape");
  TORCH_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
              "the fused CSL kernels take float32 or float64");
}

// Per-pixel confidence features of float32/float64 probabilities (B, K, N) on CPU.
// Returns max_conf (B, N), pseudo_label (B, N) long, res_var and residual_mass
// (B, N) in the input dtype, and a float64 summary [low, high, worst |sum - 1|
// over valid pixels, has_nan].
std::vector<at::Tensor> confidence_features_cpu(const at::Tensor& probs_in,
                                                const at::Tensor& valid_in, bool exact,
                                                double g_alpha, double eps) {
  const at::Tensor probs = probs_in.contiguous();
  const at::Tensor valid = valid_in.contiguous();
  const int64_t batch = probs.size(0), num_classes = probs.size(1),
                num_pixels = probs.size(2);
  at::Tensor max_conf = at::empty({batch, num_pixels}, probs.options());
  at::Tensor res_var = at::empty_like(max_conf);
  at::Tensor residual_mass = at::empty_like(max_conf);
  at::Tensor label = at::empty({batch, num_pixels}, probs.options().dtype(at::kLong));
  ValueSummary total;
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "confidence_features", [&] {
    const scalar_t* source = probs.data_ptr<scalar_t>();
    const bool* mask = valid.data_ptr<bool>();
    scalar_t* conf = max_conf.data_ptr<scalar_t>();
    scalar_t* var = res_var.data_ptr<scalar_t>();
    scalar_t* mass = residual_mass.data_ptr<scalar_t>();
    int64_t* arg = label.data_ptr<int64_t>();
    const auto summaries = for_pixel_blocks<ValueSummary>(
        batch, num_pixels, kClassBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          return features_block<scalar_t>(
              source + b * num_classes * num_pixels + start, mask + at, num_classes,
              num_pixels, end - start, exact, g_alpha, eps, conf + at, arg + at,
              var + at, mass + at);
        });
    for (const auto& summary : summaries) total.merge(summary);
  });
  at::Tensor summary = at::tensor(
      {total.low, total.high, total.worst_sum_error, total.has_nan ? 1.0 : 0.0},
      at::TensorOptions().dtype(at::kDouble));
  return {max_conf, label, res_var, residual_mass, summary};
}

// Sums over some pixels of one image, in float64.
template <int Size>
struct Sums {
  double value[Size] = {};
  Sums& operator+=(const Sums& other) {
    for (int i = 0; i < Size; ++i) value[i] += other.value[i];
    return *this;
  }
};

// Count, sum c, sum s, sum c^2, sum s^2 and sum c s of the valid pixels: the
// moments of the whole image and its Gram matrix X^T X.
template <typename T>
CSL_HOT_LOOP Sums<csl::kImageSums> image_sums(const T* __restrict__ conf,
                                              const T* __restrict__ var,
                                              const bool* __restrict__ valid,
                                              int64_t len) {
  Sums<csl::kImageSums> sums;
  for (int64_t i = 0; i < len; ++i) {
    const double member = valid[i], c = member * conf[i], s = member * var[i];
    const double terms[csl::kImageSums] = {member, c, s, c * c, s * s, c * s};
    for (int t = 0; t < csl::kImageSums; ++t) sums.value[t] += terms[t];
  }
  return sums;
}

// The first five of image_sums over the pixels of the second cluster.
template <typename T>
CSL_HOT_LOOP Sums<csl::kClusterSums> second_cluster_sums(const T* __restrict__ conf,
                                                         const T* __restrict__ var,
                                                         const bool* __restrict__ valid,
                                                         int64_t len,
                                                         const csl::Eigen2x2& e) {
  Sums<csl::kClusterSums> sums;
  for (int64_t i = 0; i < len; ++i) {
    const double c = conf[i], s = var[i];
    const double member = valid[i] && csl::in_second_cluster(c, s, e);
    const double terms[csl::kClusterSums] = {member, member * c, member * s,
                                             member * c * c, member * s * s};
    for (int t = 0; t < csl::kClusterSums; ++t) sums.value[t] += terms[t];
  }
  return sums;
}

// Weights of one image's pixels, given the reliable cluster's centre and inverse
// standard deviations: 1 on the reliable side, the Gaussian fall-off elsewhere,
// 0 on invalid pixels. The pixels that need exp are gathered first, without a
// branch: whether a pixel needs it follows no pattern a branch predictor learns.
template <typename T>
CSL_HOT_LOOP void boundary_weights(const T* __restrict__ conf, const T* __restrict__ var,
                                   const bool* __restrict__ valid, int64_t len, T mu_c,
                                   T mu_s, T inv_c, T inv_s, T inverse_alpha,
                                   T* __restrict__ out) {
  std::vector<int32_t> index(len);
  std::vector<T> exponent(len);
  int64_t count = 0;
  for (int64_t i = 0; i < len; ++i) {
    bool reliable;
    out[i] = T(valid[i]);
    index[count] = static_cast<int32_t>(i);
    exponent[count] = csl::boundary_exponent(conf[i], var[i], mu_c, mu_s, inv_c, inv_s,
                                             inverse_alpha, &reliable);
    count += valid[i] & !reliable;
  }
  for (int64_t j = 0; j < count; ++j) out[index[j]] = std::exp(exponent[j]);
}

// CSL weights from (B, N) pixel features (CSLSelector.select): the spectral split
// of each image's points, its clusters' moments, the reliable cluster's boundary.
// The points are (x1, x2), or with `log_points` (log c, -s) from x1 = the residual
// mass and x2 = s, log c read as 0 on invalid pixels (CSLSelector.points);
// invalid pixels are ignored. Returns weight (B, N), center (B, 2) and
// center_var (B, 2), in the points' coordinates.
std::vector<at::Tensor> csl_weights_cpu(const at::Tensor& x1_in, const at::Tensor& x2_in,
                                        const at::Tensor& valid_in, double alpha,
                                        double eps, bool log_points) {
  const at::Tensor valid = valid_in.contiguous();
  // ATen's vectorised log1p, as CSLSelector.points: a scalar std::log1p per
  // pixel would double the time of the selection.
  const at::Tensor x1 = log_points ? at::where(valid, x1_in, 0).neg_().log1p_()
                                   : x1_in.contiguous();
  const at::Tensor x2 = log_points ? x2_in.neg() : x2_in.contiguous();
  const int64_t batch = x1.size(0), num_pixels = x1.size(1);
  const int64_t per_image = blocks_per_image(num_pixels, kPixelBlock);
  at::Tensor weight = at::empty_like(x1);
  at::Tensor center = at::empty({batch, 2}, x1.options());
  at::Tensor center_var = at::empty_like(center);
  AT_DISPATCH_FLOATING_TYPES(x1.scalar_type(), "csl_weights", [&] {
    using T = scalar_t;
    const bool* mask = valid.data_ptr<bool>();
    const T* conf = x1.data_ptr<T>();
    const T* var = x2.data_ptr<T>();
    auto image_total = [&](const auto& parts, int64_t b) {
      auto total = parts[b * per_image];
      for (int64_t t = 1; t < per_image; ++t) total += parts[b * per_image + t];
      return total;
    };

    const auto image_parts = for_pixel_blocks<Sums<csl::kImageSums>>(
        batch, num_pixels, kPixelBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          return image_sums<T>(conf + at, var + at, mask + at, end - start);
        });
    std::vector<Sums<csl::kImageSums>> totals(batch);
    std::vector<csl::Eigen2x2> eigen(batch);
    for (int64_t b = 0; b < batch; ++b) {
      totals[b] = image_total(image_parts, b);
      eigen[b] = csl::image_eigen(totals[b].value);
    }

    const auto second_parts = for_pixel_blocks<Sums<csl::kClusterSums>>(
        batch, num_pixels, kPixelBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          return second_cluster_sums<T>(conf + at, var + at, mask + at, end - start,
                                        eigen[b]);
        });
    T* centers = center.data_ptr<T>();
    T* variances = center_var.data_ptr<T>();
    for (int64_t b = 0; b < batch; ++b) {
      double mean[2], variance[2];
      csl::reliable_moments(totals[b].value, image_total(second_parts, b).value, mean,
                            variance);
      for (int f = 0; f < 2; ++f) {
        centers[2 * b + f] = static_cast<T>(mean[f]);
        variances[2 * b + f] = static_cast<T>(variance[f]);
      }
    }

    T* out = weight.data_ptr<T>();
    for_pixel_blocks<char>(
        batch, num_pixels, kPixelBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          const T stabiliser = static_cast<T>(eps);
          boundary_weights<T>(conf + at, var + at, mask + at, end - start, centers[2 * b],
                              centers[2 * b + 1],
                              1 / std::sqrt(variances[2 * b] + stabiliser),
                              1 / std::sqrt(variances[2 * b + 1] + stabiliser),
                              static_cast<T>(1 / alpha), out + at);
          return char(0);
        });
  });
  return {weight, center, center_var};
}

}  // namespace

#ifdef WITH_CUDA
namespace csl {
std::vector<at::Tensor> confidence_features_cuda(const at::Tensor& probs,
                                                 const at::Tensor& valid, bool exact,
                                                 double g_alpha, double eps);
std::vector<at::Tensor> csl_weights_cuda(const at::Tensor& x1, const at::Tensor& x2,
                                         const at::Tensor& valid, double alpha,
                                         double eps, bool log_points);
}  // namespace csl
constexpr bool kWithCuda = true;
#else
constexpr bool kWithCuda = false;
#endif

namespace {

bool on_cuda(const at::Tensor& tensor) {
  TORCH_CHECK(tensor.device().is_cpu() || (kWithCuda && tensor.device().is_cuda()),
              "mmseg_csl._ext was built for CPU", kWithCuda ? " and CUDA" : "",
              " tensors, got one on ", tensor.device());
  return tensor.device().is_cuda();
}

// Per-pixel confidence features of float32/float64 probabilities (B, K, N) on CPU
// or CUDA: max_conf (B, N), pseudo_label (B, N) long, res_var and residual_mass
// (B, N) in the input dtype, and a float64 summary [low, high, worst |sum - 1|
// over valid pixels, has_nan] on the input's device.
std::vector<at::Tensor> confidence_features(const at::Tensor& probs,
                                            const at::Tensor& valid, bool exact,
                                            double g_alpha, double eps) {
  check_batch(probs, valid);
  TORCH_CHECK(probs.size(1) >= 2, "need at least 2 classes");
#ifdef WITH_CUDA
  if (on_cuda(probs)) return csl::confidence_features_cuda(probs, valid, exact, g_alpha, eps);
#else
  on_cuda(probs);
#endif
  return confidence_features_cpu(probs, valid, exact, g_alpha, eps);
}

// CSL weights, center and center_var from (B, N) pixel features on CPU or CUDA
// (see csl_weights_cpu).
std::vector<at::Tensor> csl_weights(const at::Tensor& x1, const at::Tensor& x2,
                                    const at::Tensor& valid, double alpha, double eps,
                                    bool log_points) {
  TORCH_CHECK(x1.sizes() == x2.sizes() && x1.scalar_type() == x2.scalar_type() &&
                  x1.device() == x2.device(),
              "x1 and x2 disagree");
  check_batch(x1.unsqueeze(1), valid);
#ifdef WITH_CUDA
  if (on_cuda(x1)) return csl::csl_weights_cuda(x1, x2, valid, alpha, eps, log_points);
#else
  on_cuda(x1);
#endif
  return csl_weights_cpu(x1, x2, valid, alpha, eps, log_points);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Fused CPU (and CUDA) kernels of the CSL pseudo-label selector";
  m.attr("with_cuda") = kWithCuda;
  m.def("confidence_features", &confidence_features,
        "max_conf, pseudo_label, res_var, residual_mass and a value summary of (B, K, N) "
        "probabilities",
        py::arg("probs"), py::arg("valid"), py::arg("exact"), py::arg("g_alpha"),
        py::arg("eps"));
  m.def("csl_weights", &csl_weights,
        "CSL weights, center and center_var from (B, N) points, or from the residual "
        "mass and res_var with log_points",
        py::arg("x1"), py::arg("x2"), py::arg("valid"), py::arg("alpha"), py::arg("eps"),
        py::arg("log_points"));
}
