// ctnn/aligned.hpp — 64-byte aligned storage for parameters, gradients and workspaces.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace ctnn {

/// Allocator giving 64-byte (cache line, one AVX-512 register) aligned blocks.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t alignment{64};
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), alignment)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, alignment); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

/// A std::vector whose data() is 64-byte aligned.
template <class T>
using aligned_vector = std::vector<T, AlignedAllocator<T>>;

}  // namespace ctnn
