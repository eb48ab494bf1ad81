// Cache hints the Tensor module's kernels give the CPU, which Swift cannot spell: a prefetch, stores that
// bypass the cache, and the fence that orders them. Header-only (static inline), no library to link; each
// compiles to its plain-memory equivalent on CPUs without the instruction.
#ifndef GPTCIRCUITS_MEMORY_HINTS_H
#define GPTCIRCUITS_MEMORY_HINTS_H

#include <stdint.h>

/// Asks the CPU to bring the cache line holding `p` into its L2 cache (and, on some CPUs, L1) for reading.
/// A hint: it never faults and changes no value.
static inline void gc_prefetch(const void *p) { __builtin_prefetch(p, 0, 2); }

typedef float gc_line_of_floats __attribute__((vector_size(64), aligned(64)));

/// dst[i] = src[i] for i < n. The whole 64-byte lines of dst are written with non-temporal stores, which go to
/// memory without first reading the lines into the cache (half the memory traffic of an ordinary copy to
/// memory that is not in cache); the floats before dst's first line boundary and after its last one are
/// copied by ordinary stores. Call `gc_store_fence` before other threads read dst.
static inline void gc_stream_floats(float *dst, const float *src, long n) {
  long i = 0;
  while (i < n && ((uintptr_t)(dst + i) & 63) != 0) { dst[i] = src[i]; i++; }
  for (; i + 16 <= n; i += 16) {
    gc_line_of_floats line;
    __builtin_memcpy(&line, src + i, 64);
    __builtin_nontemporal_store(line, (gc_line_of_floats *)(dst + i));
  }
  for (; i < n; i++) dst[i] = src[i];
}

/// Orders the non-temporal stores before it before every store after it (x86 `sfence`).
static inline void gc_store_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_sfence();
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
