// Fused CPU kernels of the CSL selector (Liu & Liu, ICCV 2025, arXiv 2509.16704;
// docs/method.md states the selection formula by formula).
//
// The PyTorch implementation in mmseg_csl/models/selectors is the definition and
// serves every device; these kernels compute the same quantities on CPU tensors in
// one read of the (B, K, H, W) probabilities and three light passes over the
// (B, N) features, where eager PyTorch needs a dozen passes and their temporaries.
// Tests compare the two.
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

// The scaled residual variance from the residual mass r and squares q:
// s = scale * max(q + spread * r^2, 0) / (r + eps).
template <typename T>
CSL_HOT_LOOP void scaled_variance(const T* __restrict__ mass,
                                  const T* __restrict__ squares, int64_t len,
                                  T spread, T scale, T eps, T* __restrict__ out) {
  for (int64_t i = 0; i < len; ++i) {
    const T centred = squares[i] + spread * mass[i] * mass[i];
    out[i] = (centred > 0 ? centred : T(0)) * scale / (mass[i] + eps);
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

void check_cpu_batch(const at::Tensor& values, const at::Tensor& valid) {
  TORCH_CHECK(values.device().is_cpu() && valid.device().is_cpu(),
              "the fused CSL kernels take CPU tensors");
  TORCH_CHECK(values.dim() == 3 && valid.dim() == 2, "expected (B, C, N) and (B, N)");
  TORCH_CHECK(valid.scalar_type() == at::kBool, "valid must be bool");
  TORCH_CHECK(values.size(0) == valid.size(0) && values.size(2) == valid.size(1),
              "the values and valid disagree in shape");
  TORCH_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
              "the fused CSL kernels take float32 or float64");
}

// Per-pixel confidence features of float32/float64 probabilities (B, K, N).
// Returns max_conf (B, N), pseudo_label (B, N) long, res_var and residual_mass
// (B, N) in the input dtype, and a float64 summary [low, high, worst |sum - 1|
// over valid pixels, has_nan].
std::vector<at::Tensor> confidence_features(const at::Tensor& probs_in,
                                            const at::Tensor& valid_in, bool exact,
                                            double g_alpha, double eps) {
  check_cpu_batch(probs_in, valid_in);
  const at::Tensor probs = probs_in.contiguous();
  const at::Tensor valid = valid_in.contiguous();
  const int64_t batch = probs.size(0), num_classes = probs.size(1),
                num_pixels = probs.size(2);
  TORCH_CHECK(num_classes >= 2, "need at least 2 classes");
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

// Unit eigenvectors w1, w2 and square roots of the eigenvalues l1 >= l2 >= 0 of
// [[a, b], [b, d]], as symmetric_2x2_eigh in csl_selector.py.
struct Eigen2x2 {
  double w1[2], w2[2], sqrt_l1, sqrt_l2;
};

Eigen2x2 symmetric_eigen(double a, double b, double d) {
  const double half_trace = (a + d) / 2;
  const double radius = std::hypot((a - d) / 2, b);
  const double l1 = half_trace + radius;
  const double l2 = std::max(half_trace - radius, 0.0);
  double x = l1 - d, y = b;
  if (std::hypot(x, y) < std::hypot(b, l1 - a)) {
    x = b;
    y = l1 - a;
  }
  const double norm = std::hypot(x, y);
  if (norm > 0) {
    x /= norm;
    y /= norm;
  } else {
    x = 1;
    y = 0;
  }
  return {{x, y}, {-y, x}, std::sqrt(std::max(l1, 0.0)), std::sqrt(l2)};
}

// Count, sum c, sum s, sum c^2, sum s^2 and sum c s of the valid pixels: the
// moments of the whole image and its Gram matrix X^T X.
template <typename T>
CSL_HOT_LOOP Sums<6> image_sums(const T* __restrict__ conf, const T* __restrict__ var,
                                const bool* __restrict__ valid, int64_t len) {
  Sums<6> sums;
  for (int64_t i = 0; i < len; ++i) {
    const double member = valid[i], c = member * conf[i], s = member * var[i];
    const double terms[6] = {member, c, s, c * c, s * s, c * s};
    for (int t = 0; t < 6; ++t) sums.value[t] += terms[t];
  }
  return sums;
}

// The first five of image_sums over the pixels of the second cluster, where
// |x.w1| sqrt(l2) < |x.w2| sqrt(l1) (spectral_split in csl_selector.py).
template <typename T>
CSL_HOT_LOOP Sums<5> second_cluster_sums(const T* __restrict__ conf,
                                         const T* __restrict__ var,
                                         const bool* __restrict__ valid, int64_t len,
                                         const Eigen2x2& e) {
  Sums<5> sums;
  for (int64_t i = 0; i < len; ++i) {
    const double c = conf[i], s = var[i];
    const bool second = std::abs(c * e.w1[0] + s * e.w1[1]) * e.sqrt_l2 <
                        std::abs(c * e.w2[0] + s * e.w2[1]) * e.sqrt_l1;
    const double member = valid[i] && second;
    const double terms[5] = {member, member * c, member * s, member * c * c,
                             member * s * s};
    for (int t = 0; t < 5; ++t) sums.value[t] += terms[t];
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
    const T z_c = (conf[i] - mu_c) * inv_c;
    const T z_s = (mu_s - var[i]) * inv_s;
    out[i] = T(valid[i]);
    index[count] = static_cast<int32_t>(i);
    exponent[count] = -(z_c * z_c + z_s * z_s) * inverse_alpha;
    count += valid[i] & !((z_c > 0) | (z_s > 0));
  }
  for (int64_t j = 0; j < count; ++j) out[index[j]] = std::exp(exponent[j]);
}

// CSL weights from (B, N) points (CSLSelector.select): the spectral split of
// each image, its clusters' moments, the reliable cluster's boundary. The points
// are the selector's variant's, (c, s) or (log c, -s); invalid ones are ignored.
// Returns weight (B, N), center (B, 2) and center_var (B, 2).
std::vector<at::Tensor> csl_weights(const at::Tensor& max_conf_in,
                                    const at::Tensor& res_var_in,
                                    const at::Tensor& valid_in, double alpha, double eps) {
  TORCH_CHECK(max_conf_in.sizes() == res_var_in.sizes() &&
                  max_conf_in.scalar_type() == res_var_in.scalar_type(),
              "max_conf and res_var disagree");
  check_cpu_batch(max_conf_in.unsqueeze(1), valid_in);
  const at::Tensor max_conf = max_conf_in.contiguous();
  const at::Tensor res_var = res_var_in.contiguous();
  const at::Tensor valid = valid_in.contiguous();
  const int64_t batch = max_conf.size(0), num_pixels = max_conf.size(1);
  const int64_t per_image = blocks_per_image(num_pixels, kPixelBlock);
  at::Tensor weight = at::empty_like(max_conf);
  at::Tensor center = at::empty({batch, 2}, max_conf.options());
  at::Tensor center_var = at::empty_like(center);
  AT_DISPATCH_FLOATING_TYPES(max_conf.scalar_type(), "csl_weights", [&] {
    using T = scalar_t;
    const T* conf = max_conf.data_ptr<T>();
    const T* var = res_var.data_ptr<T>();
    const bool* mask = valid.data_ptr<bool>();
    auto image_total = [&](const auto& parts, int64_t b) {
      auto total = parts[b * per_image];
      for (int64_t t = 1; t < per_image; ++t) total += parts[b * per_image + t];
      return total;
    };

    const auto image_parts = for_pixel_blocks<Sums<6>>(
        batch, num_pixels, kPixelBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          return image_sums<T>(conf + at, var + at, mask + at, end - start);
        });
    std::vector<Sums<6>> totals(batch);
    std::vector<Eigen2x2> eigen(batch);
    for (int64_t b = 0; b < batch; ++b) {
      totals[b] = image_total(image_parts, b);
      const double* gram = totals[b].value + 3;  // c^2, s^2, c s
      eigen[b] = symmetric_eigen(gram[0], gram[2], gram[1]);
    }

    const auto second_parts = for_pixel_blocks<Sums<5>>(
        batch, num_pixels, kPixelBlock, [&](int64_t b, int64_t start, int64_t end) {
          const int64_t at = b * num_pixels + start;
          return second_cluster_sums<T>(conf + at, var + at, mask + at, end - start,
                                        eigen[b]);
        });
    T* centers = center.data_ptr<T>();
    T* variances = center_var.data_ptr<T>();
    for (int64_t b = 0; b < batch; ++b) {
      // Cluster moments (count, sum c, sum s, sum c^2, sum s^2): the second's
      // measured, the first's the rest of the image's.
      const auto second = image_total(second_parts, b);
      double clusters[2][5];
      for (int t = 0; t < 5; ++t) {
        clusters[0][t] = totals[b].value[t] - second.value[t];
        clusters[1][t] = second.value[t];
      }
      // The reliable cluster is the non-empty one with the larger mean first
      // coordinate, as reliable_is_second in csl_selector.py; an image without
      // valid pixels gets mean (1, 0) and variance (1, 1), as the released code.
      double mean[2][2], variance[2][2];
      for (int j = 0; j < 2; ++j) {
        const double count = clusters[j][0];
        for (int f = 0; f < 2; ++f) {
          mean[j][f] = clusters[j][1 + f] / std::max(count, 1.0);
          variance[j][f] = std::max(
              (clusters[j][3 + f] - count * mean[j][f] * mean[j][f]) /
                  std::max(count - 1, 1.0),
              0.0);
        }
      }
      const bool second_wins = clusters[1][0] > 0 &&
                               (clusters[0][0] == 0 || mean[1][0] > mean[0][0]);
      const int reliable = second_wins ? 1 : 0;
      const bool empty = totals[b].value[0] == 0;
      for (int f = 0; f < 2; ++f) {
        centers[2 * b + f] = empty ? (f == 0 ? 1 : 0) : mean[reliable][f];
        variances[2 * b + f] = empty ? 1 : variance[reliable][f];
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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Fused CPU kernels of the CSL pseudo-label selector";
  m.def("confidence_features", &confidence_features,
        "max_conf, pseudo_label, res_var, residual_mass and a value summary of (B, K, N) "
        "probabilities",
        py::arg("probs"), py::arg("valid"), py::arg("exact"), py::arg("g_alpha"),
        py::arg("eps"));
  m.def("csl_weights", &csl_weights, "CSL weights, center and center_var from (B, N) points",
        py::arg("max_conf"), py::arg("res_var"), py::arg("valid"), py::arg("alpha"),
        py::arg("eps"));
}
