/* cli.c: running the `ctk` binary from tests (see cli.h). */
#include "cli.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* 1 when a listening socket could be bound to 127.0.0.1:port now. */
static int port_is_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

#define PORT_LO 10000 /* far from the well-known ports */
#define PORT_HI 32000 /* below Linux's default ephemeral range, 32768-60999 */

int cli_free_ports(int count) {
  static uint64_t state;
  static int handed_out[256];
  static int n_handed_out;
  if (!state) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    state = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
  }
  for (int attempt = 0; attempt < 1000; attempt++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    int base = PORT_LO + (int)((state >> 33) % (uint64_t)(PORT_HI - PORT_LO - count));
    int ok = 1;
    for (int i = 0; i < n_handed_out && ok; i++)
      if (base < handed_out[i] + 64 && handed_out[i] < base + count) ok = 0;
    for (int p = base; p < base + count && ok; p++) ok = port_is_free(p);
    if (!ok) continue;
    if (n_handed_out < 256) handed_out[n_handed_out++] = base;
    return base;
  }
  return -1;
}
