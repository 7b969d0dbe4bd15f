/* script.h: scripted scenarios. A scenario is a text file of one command per line, run by the
 * deterministic simulator with a manual network: every message a node sends stays in flight until
 * the script delivers or drops it, and the virtual clock moves only on `tick` and `run-until`.
 * Nodes are numbered from 0, as everywhere else in ctk (n0, n1, ...).
 *
 *   start 5 raft [seed=N] [OPTION=VALUE ...]   a cluster of 5 raft nodes (VALUE in TOML syntax)
 *   start FILE.toml [seed=N]                   the protocol, options and size of an experiment
 *   tick 100ms                                 advance the clock (us, ms, s); timers fire
 *   deliver [A->B]                             deliver the messages in flight (A, B: node or *)
 *   drop [A->B]                                drop them
 *   stabilize                                  deliver until nothing is in flight
 *   run 500ms                                  deliver everything and advance, for that long
 *   run-until leader [N] | committed I [at NODES] [within 10s]
 *                                              the same, until it holds (a failure if it does not)
 *   crash N | restart N | isolate N | heal | partition 0,1 | 2,3,4
 *   freeze NODES | thaw NODES                  stop / restart nodes' timers (who times out first)
 *   submit N put KEY VALUE                     a client command at node N
 *   expect leader N|none | term T [at NODES] | committed I [at NODES] | role ROLE at NODES
 *          | entry I put KEY VALUE | entry I no-op | counter NAME VALUE | in-flight N
 *   print status | log | flight | counters
 *   # comment
 *
 * NODES: `all`, `2`, `0,3`, `1..4`. The output echoes the script (commands after "> ") with what
 * each command did indented below it: the messages delivered and how each node's role, term,
 * leader, commit index and log length changed. A failing `expect` is reported with its line and
 * what was seen, and the script goes on; an invariant violation stops it. */
#ifndef CTK_SCRIPT_H
#define CTK_SCRIPT_H

#include <stddef.h>
#include <stdio.h>

/* Runs the script `text`; `path` names it in messages and relative experiment files are read
 * from its directory. Writes the output to out. Returns 0 when every expectation held, 1 when any
 * failed (or the simulator found a violation), -1 on an error in the script itself, with
 * "PATH:LINE: what was expected" in err. */
int ctk_script_run(const char *path, const char *text, FILE *out, char *err, size_t err_len);

#endif /* CTK_SCRIPT_H */
