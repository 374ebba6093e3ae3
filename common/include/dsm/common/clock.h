// Monotonic and real time in nanoseconds (CLOCK_MONOTONIC, CLOCK_REALTIME,
// through the vDSO: tens of nanoseconds, no system call). Thread-safe and
// async-signal-safe.
#pragma once

#include <time.h>

#include <cstdint>

namespace dsm {

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Since the epoch; steps when the clock is set (NTP keeps machines' together).
inline uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace dsm
