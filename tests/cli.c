/* cli.c: running the `ctk` binary from tests (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

const char *cli_bin(void) {
  const char *bin = getenv("CTK_BIN");
  return bin ? bin : "build/release/ctk";
}

int cli_run(const char *cmd, char *out, size_t out_len) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, out_len - 1, p);
  out[n] = 0;
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
