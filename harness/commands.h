/* commands.h: the subcommands of the ctk binary. Each takes its own argv (argv[0] is the
 * subcommand's name) and returns the process exit status. */
#ifndef CTK_COMMANDS_H
#define CTK_COMMANDS_H

/* ctk sim FILE [--seed N] [--trace FILE] [--history FILE]: one experiment in the simulator.
 * Exit status 0 when it passed, 1 on a violation or a non-linearizable history, 2 on bad input. */
int ctk_cmd_sim(int argc, char **argv);

/* ctk sweep FILE [--seeds N] [--first S] [--jobs J]: the experiment over many seeds. Exit status
 * 0 when every seed passed, 1 when any failed, 2 on bad input. */
int ctk_cmd_sweep(int argc, char **argv);

/* ctk check HISTORY.jsonl [--quiet] [--max-states N]: checks a JSON-lines history for
 * linearizability. Exit status 0 linearizable (a one-line summary), 1 not (the key and an
 * explanation), 2 malformed file ("FILE:LINE: reason") or usage error, 3 undecided (the search
 * budget of N states per key, or its memory bound, was exhausted). --quiet prints nothing when
 * linearizable and only the verdict line otherwise. */
int ctk_cmd_check(int argc, char **argv);

/* ctk config check FILE | show FILE | defaults [PROTOCOL]: validates an experiment file, prints
 * it with every default filled in, or prints a protocol's defaults. Exit status 0, or 2 for an
 * invalid file or a usage error. */
int ctk_cmd_config(int argc, char **argv);

/* ctk node FILE --id N [--dir DIR] [--control ENDPOINT]: one node of the cluster in FILE, until
 * SIGTERM or SIGINT. Exit status 0 after a clean stop, 1 on a failure (message on stderr), 2 on
 * bad input. */
int ctk_cmd_node(int argc, char **argv);

/* ctk run FILE [--json FILE] [--out DIR] [--protocol NAME] [--attach] [--quiet]: the experiment
 * on a local cluster of real processes. Exit status 0 passed (linearizable, replicas converged),
 * 1 failed verdict, 2 could not run (bad input, a node failed, interrupted). */
int ctk_cmd_run(int argc, char **argv);

/* ctk compare FILE [--protocols a,b] [--out DIR] [--json FILE] [--csv FILE] [--quiet]: the
 * experiment for each protocol in turn, then one side-by-side table. Exit status as ctk run, the
 * worst over the protocols. */
int ctk_cmd_compare(int argc, char **argv);

/* ctk keygen DIR [--nodes N] [--clients M]: CURVE key pairs for `security = "curve"` clusters
 * (16 nodes and 1 client by default). Exit status 0, 1 when a key could not be written (or one
 * exists already), 2 on a usage error. */
int ctk_cmd_keygen(int argc, char **argv);

/* ctk conform PROTOCOL [--seeds N] [--nodes N] [--out DIR]: the conformance suite (conform.h)
 * against a built-in protocol or a shared object's; one PASS/FAIL/SKIP line per check, each
 * failure with its seed and the `ctk sim` command replaying it (the experiment is written to
 * DIR, default conform-<name>). Exit status 0 all passed, 1 any failed, 2 on bad input. */
int ctk_cmd_conform(int argc, char **argv);

/* ctk new-protocol NAME DIR: writes DIR/NAME.c, a skeleton protocol that compiles and loads (and
 * does nothing), and DIR/Makefile building DIR/NAME.so against this ctk's protocol.h. Exit
 * status 0, 1 when a file could not be written (or exists already), 2 on a usage error. */
int ctk_cmd_new_protocol(int argc, char **argv);

/* ctk script FILE [--check | --update]: runs a scripted scenario (script.h) and prints its
 * output; --check compares it with FILE.out (a diff on a mismatch), --update rewrites FILE.out.
 * Exit status 0 when every expectation held (and, with --check, the output matched), 1 when one
 * failed or the output differs, 2 on an error in the script or a usage error. */
int ctk_cmd_script(int argc, char **argv);

#endif /* CTK_COMMANDS_H */
