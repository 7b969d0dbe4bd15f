/* zwait.c: waiting on ZeroMQ sockets through their fds (see zwait.h). */
#include "zwait.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

void ctk_zwait_init(ctk_zwait *self) { memset(self, 0, sizeof *self); }

int ctk_zwait_add(ctk_zwait *self, void *socket) {
  if (self->n == CTK_ZWAIT_MAX) return -1;
  int fd;
  size_t len = sizeof fd;
  if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len)) return -1;
  int k = self->n++;
  self->sockets[k] = socket;
  self->fds[k] = fd;
  self->touched[k] = 1;
  return k;
}

/* 1 when the socket holds input, 0 when not, -1 on error; processes its pending commands, which
 * arms its fd again. */
static int has_input(void *socket) {
  uint32_t events;
  size_t len = sizeof events;
  if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len)) return -1;
  return (events & ZMQ_POLLIN) != 0;
}

int ctk_zwait_wait(ctk_zwait *self, long timeout_ms, int *ready) {
  int n_ready = 0;
  for (int k = 0; k < self->n; k++) {
    ready[k] = 0;
    if (!self->touched[k]) continue;
    int in = has_input(self->sockets[k]);
    if (in < 0) return -1;
    self->touched[k] = 0;
    ready[k] = in;
    n_ready += in;
  }
  if (n_ready) return n_ready;
  struct pollfd fds[CTK_ZWAIT_MAX];
  for (int k = 0; k < self->n; k++) fds[k] = (struct pollfd){self->fds[k], POLLIN, 0};
  int rc = poll(fds, (nfds_t)self->n, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
  if (rc < 0) return errno == EINTR ? 0 : -1;
  for (int k = 0; k < self->n; k++)
    if (fds[k].revents) {
      /* Commands arrived: the caller reads it (until EAGAIN), which processes them. */
      ready[k] = 1;
      self->touched[k] = 1;
      n_ready++;
    }
  return n_ready;
}
