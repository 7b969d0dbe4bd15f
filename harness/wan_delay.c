/* wan_delay.c: the delay line between TUN devices (see wan_delay.h): read, classify, hold in a
 * heap ordered by due time (then arrival, so one pair's packets keep their order), write. */
#include "wan_delay.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define PACKET_MAX   65536
#define READS_PER_FD 64 /* per wakeup, so one busy device cannot starve the others */

typedef struct held_packet {
  uint64_t due_ns;
  uint64_t seq;
  int port;
  uint32_t len;
  uint8_t *data;
} held_packet;

struct ctk_delay_line {
  int fds[WAN_DELAY_MAX_PORTS];
  int n_ports;
  int wake_fd; /* eventfd: stop */
  ctk_delay_map map;
  held_packet *heap; /* WAN_DELAY_MAX_PACKETS entries */
  size_t held;
  uint64_t seq;
  pthread_t thread;
  pthread_mutex_t lock;
  ctk_delay_stats stats; /* under lock */
  int stop;              /* under lock */
  uint8_t buf[PACKET_MAX];
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count(ctk_delay_line *self, uint64_t *counter) {
  pthread_mutex_lock(&self->lock);
  (*counter)++;
  pthread_mutex_unlock(&self->lock);
}

/* ---- the heap ---- */

static int earlier(const held_packet *a, const held_packet *b) {
  return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(ctk_delay_line *self, held_packet p) {
  size_t i = self->held++;
  self->heap[i] = p;
  while (i > 0 && earlier(&self->heap[i], &self->heap[(i - 1) / 2])) {
    held_packet t = self->heap[i];
    self->heap[i] = self->heap[(i - 1) / 2];
    self->heap[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static held_packet heap_pop(ctk_delay_line *self) {
  held_packet top = self->heap[0];
  self->heap[0] = self->heap[--self->held];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < self->held && earlier(&self->heap[l], &self->heap[m])) m = l;
    if (r < self->held && earlier(&self->heap[r], &self->heap[m])) m = r;
    if (m == i) break;
    held_packet t = self->heap[i];
    self->heap[i] = self->heap[m];
    self->heap[m] = t;
    i = m;
  }
  return top;
}

/* ---- one packet ---- */

static uint32_t ipv4_at(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Classifies a packet read from a device and holds it for its link's delay. */
static void take(ctk_delay_line *self, const uint8_t *data, size_t len, uint64_t now) {
  const ctk_delay_map *m = &self->map;
  if (len < 20 || data[0] >> 4 != 4) return count(self, &self->stats.dropped);
  uint32_t src = ipv4_at(data + 12), dst = ipv4_at(data + 16);
  if ((src & 0xffffff00u) != m->subnet || (dst & 0xffffff00u) != m->subnet)
    return count(self, &self->stats.dropped);
  int port = m->port_of[dst & 0xff];
  int from = m->site_of[src & 0xff], to = m->site_of[dst & 0xff];
  if (port < 0 || from < 0 || to < 0 || self->held == WAN_DELAY_MAX_PACKETS)
    return count(self, &self->stats.dropped);
  uint8_t *copy = malloc(len);
  if (!copy) return count(self, &self->stats.dropped);
  memcpy(copy, data, len);
  heap_push(self, (held_packet){.due_ns = now + m->delay_us[from][to] * 1000u,
                                .seq = self->seq++,
                                .port = port,
                                .len = (uint32_t)len,
                                .data = copy});
}

/* Writes every packet that is due; a device that cannot take one drops it (as a full queue). */
static void release_due(ctk_delay_line *self, uint64_t now) {
  while (self->held > 0 && self->heap[0].due_ns <= now) {
    held_packet p = heap_pop(self);
    ssize_t n = write(self->fds[p.port], p.data, p.len);
    count(self, n == (ssize_t)p.len ? &self->stats.forwarded : &self->stats.dropped);
    free(p.data);
  }
}

/* ---- the thread ---- */

static int stopping(ctk_delay_line *self) {
  pthread_mutex_lock(&self->lock);
  int stop = self->stop;
  pthread_mutex_unlock(&self->lock);
  return stop;
}

static void *delay_main(void *arg) {
  ctk_delay_line *self = arg;
  /* A real-time priority, when allowed (root), so that a busy machine delays packets by the
   * matrix and not also by the scheduler, as netem would in the kernel. The thread sleeps in
   * ppoll between packets, so it cannot starve anyone. */
  struct sched_param param = {.sched_priority = 10};
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  struct pollfd items[WAN_DELAY_MAX_PORTS + 1];
  for (int k = 0; k < self->n_ports; k++) items[k] = (struct pollfd){self->fds[k], POLLIN, 0};
  items[self->n_ports] = (struct pollfd){self->wake_fd, POLLIN, 0};
  while (!stopping(self)) {
    uint64_t now = now_ns();
    release_due(self, now);
    struct timespec timeout = {1, 0}, *t = &timeout;
    if (self->held > 0) {
      uint64_t wait = self->heap[0].due_ns > now ? self->heap[0].due_ns - now : 0;
      timeout = (struct timespec){(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
    }
    if (ppoll(items, (nfds_t)self->n_ports + 1, t, NULL) < 0 && errno != EINTR) break;
    now = now_ns();
    for (int k = 0; k < self->n_ports; k++) {
      if (!(items[k].revents & POLLIN)) continue;
      for (int r = 0; r < READS_PER_FD; r++) {
        ssize_t n = read(self->fds[k], self->buf, sizeof self->buf);
        if (n <= 0) break;
        take(self, self->buf, (size_t)n, now);
      }
    }
  }
  return NULL;
}

ctk_delay_line *ctk_delay_line_start(const int *fds, int n_ports, const ctk_delay_map *map,
                                     char *err, size_t err_len) {
  if (n_ports < 1 || n_ports > WAN_DELAY_MAX_PORTS) {
    snprintf(err, err_len, "delay line: %d devices (1 to %d)", n_ports, WAN_DELAY_MAX_PORTS);
    return NULL;
  }
  ctk_delay_line *self = calloc(1, sizeof *self);
  if (self) self->heap = malloc(WAN_DELAY_MAX_PACKETS * sizeof *self->heap);
  if (!self || !self->heap) {
    if (self) free(self);
    snprintf(err, err_len, "delay line: out of memory");
    return NULL;
  }
  memcpy(self->fds, fds, (size_t)n_ports * sizeof *fds);
  self->n_ports = n_ports;
  self->map = *map;
  pthread_mutex_init(&self->lock, NULL);
  self->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (self->wake_fd < 0 || pthread_create(&self->thread, NULL, delay_main, self)) {
    snprintf(err, err_len, "delay line: cannot start its thread: %s", strerror(errno));
    if (self->wake_fd >= 0) close(self->wake_fd);
    pthread_mutex_destroy(&self->lock);
    free(self->heap);
    free(self);
    return NULL;
  }
  return self;
}

void ctk_delay_line_stats(ctk_delay_line *self, ctk_delay_stats *stats) {
  pthread_mutex_lock(&self->lock);
  *stats = self->stats;
  pthread_mutex_unlock(&self->lock);
}

void ctk_delay_line_stop(ctk_delay_line **self_p) {
  ctk_delay_line *self = *self_p;
  if (!self) return;
  *self_p = NULL;
  pthread_mutex_lock(&self->lock);
  self->stop = 1;
  pthread_mutex_unlock(&self->lock);
  uint64_t one = 1;
  if (write(self->wake_fd, &one, sizeof one) < 0) { /* the thread also wakes within 1 s */
  }
  pthread_join(self->thread, NULL);
  while (self->held > 0) free(heap_pop(self).data);
  close(self->wake_fd);
  pthread_mutex_destroy(&self->lock);
  free(self->heap);
  free(self);
}
