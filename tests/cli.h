/* cli.h: what the tests that drive the `ctk` binary share: where it is, and running it. */
#ifndef CTK_TESTS_CLI_H
#define CTK_TESTS_CLI_H

#include <stddef.h>

/* The binary under test: $CTK_BIN (tests/run.sh sets it), else build/release/ctk. */
const char *cli_bin(void);

/* Runs a shell command, capturing up to out_len - 1 bytes of its output (NUL-terminated).
 * Returns its exit status, or -1 when it could not run or did not exit. */
int cli_run(const char *cmd, char *out, size_t out_len);

/* The first of `count` consecutive TCP ports on 127.0.0.1 that nothing listens on or uses right
 * now, below the kernel's ephemeral range (where outgoing connections take their local ports)
 * and picked at random, so that test binaries running at the same time (or a port that an
 * earlier test's connection still holds) do not collide. Never the same block twice in one
 * process. */
int cli_free_ports(int count);

#endif /* CTK_TESTS_CLI_H */
