/* bench_checker.c: the linearizability checker's speed on realistic histories. A simulated
 * linearizable store serves closed-loop clients (overlapping random intervals, each op taking
 * effect at a random point inside its own); the history goes to a temporary JSON-lines file, and
 * the bench times reading it alone (the baseline) against reading and checking it, median of 3.
 *
 * Usage: bench_checker [OPS]   (default 100000 ops over 1000 keys by 32 clients; a second line
 * checks one hot key with 5000 ops by 16 clients). Exits 0 only when both are linearizable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "common/rng.h"
#include "history.h"

#define REPEATS     3
#define HOT_KEY_OPS 5000
#define VALUE_CHARS 16

typedef struct sim_op {
  int process;
  ctk_op_f f;
  uint32_t key;
  uint64_t invoke_us, complete_us, point_us;
  ctk_hist_type outcome;
  uint32_t value, expected, read; /* value numbers; 0 is "absent" */
} sim_op;

typedef struct workload {
  size_t ops;
  uint32_t keys;
  int processes;
  double read_share, cas_share, info_share, fail_share;
  uint64_t seed;
} workload;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Client latency: mostly fast, sometimes slow (a long tail makes for more concurrency). */
static uint64_t draw_latency_us(ctk_rng *rng) {
  uint64_t base = ctk_rng_range(rng, 200, 1500);
  return ctk_rng_chance(rng, 0.05) ? base * ctk_rng_range(rng, 3, 20) : base;
}

static int by_point(const void *a, const void *b) {
  const sim_op *x = *(sim_op *const *)a, *y = *(sim_op *const *)b;
  if (x->point_us != y->point_us) return x->point_us < y->point_us ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* Draws the operations, then runs them against a map in the order of their points: each client
 * expects, in a cas, the last value it saw for that key. Returns NULL when out of memory. */
static sim_op *simulate(const workload *w) {
  ctk_rng rng;
  ctk_rng_seed(&rng, w->seed);
  sim_op *ops = calloc(w->ops, sizeof *ops);
  sim_op **order = malloc(w->ops * sizeof *order);
  uint64_t *clock = calloc((size_t)w->processes, sizeof *clock);
  uint32_t *current = calloc(w->keys, sizeof *current);
  uint32_t *seen = calloc((size_t)w->keys * (size_t)w->processes, sizeof *seen);
  if (!ops || !order || !clock || !current || !seen) {
    free(ops);
    ops = NULL;
    goto done;
  }
  uint32_t written = 0;
  for (size_t i = 0; i < w->ops; i++) {
    sim_op *op = &ops[i];
    op->process = (int)(i % (size_t)w->processes); /* clients take turns issuing */
    op->key = (uint32_t)ctk_rng_range(&rng, 0, w->keys - 1);
    double r = ctk_rng_unit(&rng);
    op->f = r < w->read_share                  ? CTK_F_GET
            : r < w->read_share + w->cas_share ? CTK_F_CAS
                                               : CTK_F_PUT;
    op->invoke_us = clock[op->process] + ctk_rng_range(&rng, 0, 300);
    op->complete_us = op->invoke_us + draw_latency_us(&rng);
    op->point_us = ctk_rng_range(&rng, op->invoke_us + 1, op->complete_us - 1);
    clock[op->process] = op->complete_us;
    op->outcome = ctk_rng_chance(&rng, w->info_share)   ? CTK_HIST_INFO
                  : ctk_rng_chance(&rng, w->fail_share) ? CTK_HIST_FAIL
                                                        : CTK_HIST_OK;
    if (op->f != CTK_F_GET) op->value = ++written;
    order[i] = op;
  }
  qsort(order, w->ops, sizeof *order, by_point);
  for (size_t i = 0; i < w->ops; i++) {
    sim_op *op = order[i];
    uint32_t *value = &current[op->key], *saw = &seen[(size_t)op->key * w->processes + op->process];
    int takes_effect = op->outcome == CTK_HIST_OK || (op->outcome == CTK_HIST_INFO && i % 2);
    if (op->f == CTK_F_GET) {
      op->read = *saw = *value;
    } else if (op->f == CTK_F_PUT) {
      if (takes_effect) *value = op->value;
      if (op->outcome == CTK_HIST_OK) *saw = op->value;
    } else {
      op->expected = *saw;
      if (op->outcome != CTK_HIST_INFO)
        op->outcome = *value == op->expected ? CTK_HIST_OK : CTK_HIST_FAIL;
      if (op->outcome == CTK_HIST_OK || (takes_effect && *value == op->expected))
        *value = op->value;
      if (op->outcome == CTK_HIST_OK) *saw = op->value;
    }
  }
done:
  free(order);
  free(clock);
  free(current);
  free(seen);
  return ops;
}

typedef struct sim_event {
  uint64_t time;
  uint32_t op;
  uint8_t is_invoke;
} sim_event;

static int by_time(const void *a, const void *b) {
  const sim_event *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  if (x->is_invoke != y->is_invoke) return x->is_invoke - y->is_invoke; /* completions first */
  return x->op < y->op ? -1 : x->op > y->op;
}

static const char *value_name(uint32_t v, char *buf) {
  if (!v) return NULL;
  snprintf(buf, VALUE_CHARS, "v%u", v);
  return buf;
}

/* The simulated history, events in time order. Returns 0, or -1 when out of memory. */
static int build_history(const workload *w, const sim_op *ops, ctk_history *h) {
  ctk_history_init(h);
  sim_event *events = malloc(2 * w->ops * sizeof *events);
  if (!events) return -1;
  for (size_t i = 0; i < w->ops; i++) {
    events[2 * i] = (sim_event){ops[i].invoke_us, (uint32_t)i, 1};
    events[2 * i + 1] = (sim_event){ops[i].complete_us, (uint32_t)i, 0};
  }
  qsort(events, 2 * w->ops, sizeof *events, by_time);
  int rc = 0;
  for (size_t i = 0; i < 2 * w->ops && rc == 0; i++) {
    const sim_op *op = &ops[events[i].op];
    char key[24], value[VALUE_CHARS], expected[VALUE_CHARS];
    snprintf(key, sizeof key, "key%u", op->key);
    ctk_hist_type type = events[i].is_invoke ? CTK_HIST_INVOKE : op->outcome;
    uint32_t v = op->f == CTK_F_GET ? (events[i].is_invoke ? 0 : op->read) : op->value;
    rc = ctk_history_add(h, op->process, type, op->f, events[i].time, key, value_name(v, value),
                         op->f == CTK_F_CAS ? value_name(op->expected, expected) : NULL);
  }
  free(events);
  return rc;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs one workload; prints its line. Returns 1 when linearizable, 0 otherwise. */
static int bench(const char *name, const workload *w) {
  sim_op *ops = simulate(w);
  ctk_history h;
  if (!ops || build_history(w, ops, &h) != 0) {
    fprintf(stderr, "%s: out of memory\n", name);
    free(ops);
    return 0;
  }
  free(ops);
  char path[] = "/tmp/ctk_bench_checker_XXXXXX";
  int fd = mkstemp(path);
  FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!out || ctk_history_write_jsonl(&h, out) != 0) {
    fprintf(stderr, "%s: cannot write %s\n", name, path);
    if (out) fclose(out);
    unlink(path);
    ctk_history_free(&h);
    return 0;
  }
  fclose(out);
  ctk_history_free(&h);

  double read_ms[REPEATS], check_ms[REPEATS];
  ctk_check_result r = {0};
  int ok = 1;
  char err[512];
  for (int i = 0; i < REPEATS && ok; i++) {
    double start = now_ms();
    ok = ctk_history_read_jsonl(path, &h, err, sizeof err) == 0;
    read_ms[i] = now_ms() - start;
    ctk_history_free(&h);

    start = now_ms();
    ok = ok && ctk_history_read_jsonl(path, &h, err, sizeof err) == 0;
    ctk_check_result_free(&r);
    ok = ok && ctk_check_history(&h, &r, err, sizeof err) == 0;
    check_ms[i] = now_ms() - start;
    ctk_history_free(&h);
  }
  unlink(path);
  if (!ok) {
    fprintf(stderr, "%s: %s\n", name, err);
    return 0;
  }
  qsort(read_ms, REPEATS, sizeof read_ms[0], compare_doubles);
  qsort(check_ms, REPEATS, sizeof check_ms[0], compare_doubles);
  double read = read_ms[REPEATS / 2], check = check_ms[REPEATS / 2];
  printf(
      "%s: ops=%zu keys=%zu read_ms=%.1f check_ms=%.1f (median of %d) ops_per_s=%.0f "
      "ratio_check_to_read=%.2f states=%llu linearizable=%d\n",
      name, w->ops, r.n_keys, read, check, REPEATS, (double)w->ops / (check / 1e3), check / read,
      (unsigned long long)r.states_explored, r.linearizable);
  if (r.linearizable != 1 && r.explanation) fputs(r.explanation, stderr);
  int linearizable = r.linearizable == 1;
  ctk_check_result_free(&r);
  return linearizable;
}

int main(int argc, char **argv) {
  size_t ops = 100000;
  if (argc > 1) {
    char *end;
    unsigned long long n = strtoull(argv[1], &end, 10);
    if (*end || n < 100 || n > 10000000) {
      fprintf(stderr, "usage: bench_checker [OPS]   (100 to 10000000)\n");
      return 2;
    }
    ops = (size_t)n;
  }
  workload spread = {.ops = ops,
                     .keys = 1000,
                     .processes = 32,
                     .read_share = 0.5,
                     .cas_share = 0.15,
                     .info_share = 0.01,
                     .fail_share = 0.005,
                     .seed = 1};
  workload hot = {.ops = HOT_KEY_OPS,
                  .keys = 1,
                  .processes = 16,
                  .read_share = 0.5,
                  .cas_share = 0.15,
                  .info_share = 0.01,
                  .fail_share = 0.005,
                  .seed = 2};
  int ok = bench("checker", &spread);
  ok &= bench("checker_hot_key", &hot);
  return ok ? 0 : 1;
}
