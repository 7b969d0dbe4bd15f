/* clock.h: the real hosts' clock (CLOCK_MONOTONIC, in microseconds) and sleeping on it. Only
 * hosts use it: protocols get their time from the events they are handed. */
#ifndef CTK_CLOCK_H
#define CTK_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ctk_clock_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void ctk_sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
  nanosleep(&ts, NULL);
}

#endif /* CTK_CLOCK_H */
