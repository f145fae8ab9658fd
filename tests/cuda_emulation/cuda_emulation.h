// Just enough of CUDA to run the selector's CUDA kernels on the CPU, so that CI,
// which has no GPU, tests their indexing and reductions (see __init__.py).
//
// A launch runs its blocks one after the other; a block's threads are fibers
// (ucontext) of one host thread, run in turn from one __syncthreads to the
// next, so a barrier costs a context switch. __shared__ arrays are static, which
// one block at a time uses. __shfl_down_sync exchanges values through memory
// between two barriers, so every thread of the block must reach it (true of the
// kernels tested: no shuffle is inside a branch). A barrier that some threads
// of a block reach and others do not, undefined on a GPU, is an error here.
// Nothing here models CUDA's memory or floating-point behaviour.
#pragma once

#include <torch/extension.h>

#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static
#define C10_CUDA_KERNEL_LAUNCH_CHECK()

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline dim3 threadIdx, blockIdx, gridDim, blockDim;

using cudaStream_t = int;

namespace c10 {
namespace cuda {
struct CUDAGuard {
  explicit CUDAGuard(const c10::Device&) {}
};
inline cudaStream_t getCurrentCUDAStream() { return 0; }
}  // namespace cuda
}  // namespace c10

namespace cuda_emulation {

constexpr size_t kStackBytes = 1 << 16;

// The fibers of the block that runs.
struct Block {
  ucontext_t host;
  std::vector<ucontext_t> threads;
  std::vector<std::vector<char>> stacks;
  std::vector<char> finished;
  std::vector<uint64_t> exchange;  // one slot per thread, for __shfl_down_sync
  std::function<void()> body;
  unsigned current = 0;
};

inline Block* block = nullptr;

inline void run_thread() {
  block->body();
  block->finished[block->current] = 1;
}

// Runs every thread of block `index` from barrier to barrier until all return.
inline void run_block(Block& b, dim3 index) {
  const unsigned count = static_cast<unsigned>(b.threads.size());
  for (unsigned t = 0; t < count; ++t) {
    getcontext(&b.threads[t]);
    b.threads[t].uc_stack.ss_sp = b.stacks[t].data();
    b.threads[t].uc_stack.ss_size = b.stacks[t].size();
    b.threads[t].uc_link = &b.host;
    makecontext(&b.threads[t], run_thread, 0);
    b.finished[t] = 0;
  }
  blockIdx = index;
  for (unsigned done = 0; done < count;) {
    done = 0;
    for (unsigned t = 0; t < count; ++t) {
      b.current = t;
      threadIdx = dim3(t);
      swapcontext(&b.host, &b.threads[t]);
      done += b.finished[t];
    }
    TORCH_CHECK(done == 0 || done == count, "block (", index.x, ", ", index.y, "): ",
                count - done, " threads wait at a __syncthreads that ", done,
                " others never reach");
  }
}

}  // namespace cuda_emulation

inline void __syncthreads() {
  auto& b = *cuda_emulation::block;
  swapcontext(&b.threads[b.current], &b.host);
}

template <typename T>
T __shfl_down_sync(unsigned, T value, unsigned offset) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "8 bytes at most");
  auto& slots = cuda_emulation::block->exchange;
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  slots[threadIdx.x] = bits;
  __syncthreads();
  const unsigned lane = threadIdx.x % 32;
  T result = value;
  if (lane + offset < 32) std::memcpy(&result, &slots[threadIdx.x + offset], sizeof(T));
  __syncthreads();
  return result;
}

// kernel<<<grid, threads, shared_bytes, stream>>>(args...), rewritten by
// __init__.py into this call.
template <typename Kernel, typename... Args>
void emulated_launch(dim3 grid, dim3 threads, size_t, cudaStream_t, Kernel kernel,
                     Args... args) {
  TORCH_CHECK(threads.y == 1 && threads.z == 1 && grid.z == 1, "1-D blocks, 2-D grids");
  gridDim = grid;
  blockDim = threads;
  cuda_emulation::Block b;
  b.threads.resize(threads.x);
  b.stacks.assign(threads.x, std::vector<char>(cuda_emulation::kStackBytes));
  b.finished.assign(threads.x, 0);
  b.exchange.assign(threads.x, 0);
  b.body = [&] { kernel(args...); };
  cuda_emulation::block = &b;
  for (unsigned y = 0; y < grid.y; ++y) {
    for (unsigned x = 0; x < grid.x; ++x) cuda_emulation::run_block(b, dim3(x, y));
  }
  cuda_emulation::block = nullptr;
}
