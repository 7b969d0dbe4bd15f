/* simtest.c: the shared helpers of the simulated-cluster tests (simtest.h). */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>

ctk_simulator *simtest_scripted(ctk_config *c) {
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {.no_clients = 1};
  ctk_simulator *sim = ctk_sim_new(c, &options, err, sizeof err);
  if (!sim) fail_msg("ctk_sim_new: %s", err);
  return sim;
}

void simtest_run_ms(ctk_simulator *sim, uint64_t ms) {
  if (ctk_sim_run_until(sim, ctk_sim_now(sim) + ms * 1000))
    fail_msg("invariant violated: %s", ctk_sim_violation(sim));
}

int simtest_wait_leader(ctk_simulator *sim, uint64_t max_ms) {
  for (uint64_t t = 0; t <= max_ms; t += 10) {
    int leader = ctk_sim_leader(sim);
    if (leader >= 0) return leader;
    simtest_run_ms(sim, 10);
  }
  fail_msg("no leader after %" PRIu64 " ms", max_ms);
  return -1;
}
