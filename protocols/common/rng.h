/* rng.h: a small seeded pseudo-random generator (splitmix64 seeding a xoshiro256**) whose whole
 * state lives in the caller's struct, so protocols and the simulator stay deterministic and free
 * of globals. Not for cryptography. */
#ifndef CTK_RNG_H
#define CTK_RNG_H

#include <stdint.h>

typedef struct ctk_rng {
  uint64_t s[4];
} ctk_rng;

static inline uint64_t ctk_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline void ctk_rng_seed(ctk_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = ctk_splitmix64(&seed);
}

static inline uint64_t ctk_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t ctk_rng_next(ctk_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = ctk_rng_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = ctk_rng_rotl(s[3], 45);
  return result;
}

/* Uniform in [lo, hi] inclusive; lo <= hi. */
static inline uint64_t ctk_rng_range(ctk_rng *r, uint64_t lo, uint64_t hi) {
  uint64_t span = hi - lo + 1;
  if (span == 0) return ctk_rng_next(r); /* the whole 64-bit range */
  return lo + ctk_rng_next(r) % span;
}

/* Uniform in [0, 1). */
static inline double ctk_rng_unit(ctk_rng *r) {
  return (double)(ctk_rng_next(r) >> 11) * 0x1.0p-53;
}

/* True with probability p. */
static inline int ctk_rng_chance(ctk_rng *r, double p) { return p > 0 && ctk_rng_unit(r) < p; }

#endif /* CTK_RNG_H */
