// The allocator entry points of a native library, counted: host_sim/native.py links the
// library with -Wl,--wrap=malloc,... so its own objects' calls come here, and a test can prove
// the engine allocates nothing after Init(). Included by exactly one source of each library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace {

std::uint64_t allocations = 0;

}  // namespace

extern "C" {

void* __real_malloc(std::size_t size);
void* __real_calloc(std::size_t count, std::size_t size);
void* __real_realloc(void* pointer, std::size_t size);
void* __wrap_malloc(std::size_t size) {
  ++allocations;
  return __real_malloc(size);
}
void* __wrap_calloc(std::size_t count, std::size_t size) {
  ++allocations;
  return __real_calloc(count, size);
}
void* __wrap_realloc(void* pointer, std::size_t size) {
  ++allocations;
  return __real_realloc(pointer, size);
}
// operator new and new[] (Itanium C++ ABI names), should the core ever use them.
void* __real__Znwm(std::size_t size);
void* __real__Znam(std::size_t size);
void* __wrap__Znwm(std::size_t size) {
  ++allocations;
  return __real__Znwm(size);
}
void* __wrap__Znam(std::size_t size) {
  ++allocations;
  return __real__Znam(size);
}

}  // extern "C"
