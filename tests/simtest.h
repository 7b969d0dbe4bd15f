/* simtest.h: what the tests of whole simulated clusters share: a simulator without clients that
 * the test drives by hand, running it for a while with the invariants checked, and waiting for a
 * leader. Every helper fails the running cmocka test on error. */
#ifndef CTK_TESTS_SIMTEST_H
#define CTK_TESTS_SIMTEST_H

#include <stdint.h>

#include "config.h"
#include "sim.h"

/* A simulator of config c with no clients of its own (the test submits what it needs). */
ctk_simulator *simtest_scripted(ctk_config *c);

/* Runs the simulation ms milliseconds of virtual time on; fails the test on a violated
 * invariant, naming it. */
void simtest_run_ms(ctk_simulator *sim, uint64_t ms);

/* Runs in 10 ms steps until some node leads (at most max_ms); returns the leader. */
int simtest_wait_leader(ctk_simulator *sim, uint64_t max_ms);

#endif /* CTK_TESTS_SIMTEST_H */
