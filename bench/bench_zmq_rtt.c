/* bench_zmq_rtt.c: the ZeroMQ round trip between two processes, the floor under every message a
 * node sends: a forked child binds a ROUTER on tcp://127.0.0.1:<free port> and echoes; the parent
 * connects a DEALER and times 20,000 round trips of 64 bytes after a warmup. Baseline, measured
 * in the same run between the same two kinds of processes: plain TCP sockets over loopback
 * (TCP_NODELAY), echoing 64 bytes; the two alternate in blocks of 1,000. Prints medians, p99s and
 * ratios, then machine-readable lines
 * (`zmq_rtt_median_us 123.4`) for scripts. The child dies with the parent (PR_SET_PDEATHSIG),
 * gives up after a silence of 10 s, and is always reaped. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

enum { MSG = 64, WARMUP = 1000, ROUND_TRIPS = 20000, BLOCK = 1000, SILENCE_MS = 10000 };

static pid_t children[2] = {-1, -1};

/* Kills (if needed) and reaps the children; safe to call more than once. */
static void reap(void) {
  for (int c = 0; c < 2; c++) {
    if (children[c] <= 0) continue;
    int status;
    for (int i = 0; i < 200; i++) { /* give it 2 s to finish by itself */
      pid_t r = waitpid(children[c], &status, WNOHANG);
      if (r == children[c] || (r < 0 && errno == ECHILD)) break;
      usleep(10000);
      if (i == 199) {
        kill(children[c], SIGKILL);
        waitpid(children[c], &status, 0);
      }
    }
    children[c] = -1;
  }
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "bench_zmq_rtt: %s: %s\n", what, detail);
  for (int c = 0; c < 2; c++)
    if (children[c] > 0) kill(children[c], SIGKILL);
  reap();
  exit(1);
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Forks the echo child, which runs body(ready_fd) and exits; returns the pipe the child
 * reports its address on. The child dies if the parent does. */
static int spawn(int c, void (*body)(int ready_fd)) {
  int fds[2];
  if (pipe(fds)) die("pipe", strerror(errno));
  pid_t parent = getpid();
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) die("fork", strerror(errno));
  children[c] = child;
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1); /* the parent died before prctl */
    close(fds[0]);
    body(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  return fds[0];
}

static void read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t k = read(fd, buf + n, 1);
    if (k <= 0) die("child", "exited before reporting its address");
    if (buf[n] == '\n') break;
    n++;
  }
  buf[n] = 0;
  close(fd);
}

/* ---- the baseline: plain TCP ---- */

static int read_full(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

static void tcp_echo(int ready_fd) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
      getsockname(ls, (struct sockaddr *)&a, &alen))
    _exit(2);
  dprintf(ready_fd, "%d\n", ntohs(a.sin_port));
  close(ready_fd);
  struct timeval tv = {SILENCE_MS / 1000, 0};
  setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int s = accept(ls, NULL, NULL);
  if (s < 0) _exit(3);
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t buf[MSG];
  while (read_full(s, buf, MSG) == 0 && write_full(s, buf, MSG) == 0) continue;
  close(s);
  close(ls);
}

/* Connects to the TCP echo child listening on the port in `line`. */
static int tcp_connect(const char *line) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)atoi(line)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) die("tcp connect", strerror(errno));
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return s;
}

/* n round trips over TCP, timed into samples (NULL: warmup). */
static void tcp_block(int s, int n, double *samples) {
  uint8_t buf[MSG] = {1};
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    if (write_full(s, buf, MSG) || read_full(s, buf, MSG)) die("tcp round trip", strerror(errno));
    if (samples) samples[i] = now_us() - t0;
  }
}

/* ---- ZeroMQ: DEALER -> ROUTER echo ---- */

static void zmq_echo(int ready_fd) {
  void *ctx = zmq_ctx_new();
  void *router = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
  int zero = 0;
  if (!router || zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_bind(router, "tcp://127.0.0.1:*"))
    _exit(2);
  char endpoint[256];
  size_t len = sizeof endpoint;
  if (zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len)) _exit(3);
  dprintf(ready_fd, "%s\n", endpoint);
  close(ready_fd);
  zmq_msg_t id, body;
  zmq_msg_init(&id);
  zmq_msg_init(&body);
  for (;;) {
    zmq_pollitem_t item = {router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, SILENCE_MS) <= 0) break; /* silence or error: give up */
    if (zmq_msg_recv(&id, router, 0) < 0 || !zmq_msg_more(&id)) break;
    if (zmq_msg_recv(&body, router, 0) < 0) break;
    if (zmq_msg_size(&body) == 0) break; /* the parent's "stop" */
    if (zmq_msg_send(&id, router, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, router, 0) < 0) break;
  }
  zmq_msg_close(&id);
  zmq_msg_close(&body);
  zmq_close(router);
  zmq_ctx_term(ctx);
}

static void *zmq_connect_dealer(void *ctx, const char *endpoint) {
  void *dealer = zmq_socket(ctx, ZMQ_DEALER);
  int zero = 0, timeout_ms = 5000;
  if (!dealer || zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms) ||
      zmq_setsockopt(dealer, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms) ||
      zmq_connect(dealer, endpoint))
    die("zmq connect", zmq_strerror(zmq_errno()));
  return dealer;
}

/* n round trips over ZeroMQ, timed into samples (NULL: warmup). */
static void zmq_block(void *dealer, int n, double *samples) {
  uint8_t buf[MSG] = {1};
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    if (zmq_send(dealer, buf, MSG, 0) != MSG || zmq_recv(dealer, buf, MSG, 0) != MSG)
      die("zmq round trip", zmq_strerror(zmq_errno()));
    if (samples) samples[i] = now_us() - t0;
  }
}

int main(void) {
  atexit(reap);
  static double tcp[ROUND_TRIPS], zmq[ROUND_TRIPS];
  /* Both children first: the parent has no ZeroMQ context (and so no threads) when it forks. */
  char port[64], endpoint[256];
  read_line(spawn(0, tcp_echo), port, sizeof port);
  read_line(spawn(1, zmq_echo), endpoint, sizeof endpoint);
  int s = tcp_connect(port);
  void *ctx = zmq_ctx_new();
  if (!ctx) die("zmq_ctx_new", zmq_strerror(zmq_errno()));
  void *dealer = zmq_connect_dealer(ctx, endpoint);
  tcp_block(s, WARMUP, NULL);
  zmq_block(dealer, WARMUP, NULL);
  /* Alternate blocks, so that load from elsewhere on a shared machine hits both alike. */
  for (int done = 0; done < ROUND_TRIPS; done += BLOCK) {
    tcp_block(s, BLOCK, tcp + done);
    zmq_block(dealer, BLOCK, zmq + done);
  }
  close(s);                              /* the TCP child sees EOF and exits */
  zmq_send(dealer, "", 0, ZMQ_DONTWAIT); /* the ZeroMQ child's "stop" */
  reap();
  zmq_close(dealer);
  zmq_ctx_term(ctx);
  qsort(tcp, ROUND_TRIPS, sizeof tcp[0], cmp_double);
  qsort(zmq, ROUND_TRIPS, sizeof zmq[0], cmp_double);
  double tm = tcp[ROUND_TRIPS / 2], tp = tcp[ROUND_TRIPS * 99 / 100];
  double zm = zmq[ROUND_TRIPS / 2], zp = zmq[ROUND_TRIPS * 99 / 100];
  int major, minor, patch;
  zmq_version(&major, &minor, &patch);
  printf(
      "zmq_rtt: %d round trips of %d B between two processes over tcp loopback (libzmq %d.%d.%d)\n",
      ROUND_TRIPS, MSG, major, minor, patch);
  printf("zmq_rtt: raw TCP echo [baseline]     median %7.1f us  p99 %7.1f us\n", tm, tp);
  printf("zmq_rtt: ZeroMQ DEALER->ROUTER echo  median %7.1f us (%.2fx)  p99 %7.1f us (%.2fx)\n", zm,
         zm / tm, zp, zp / tp);
  printf("zmq_rtt_median_us %.1f\n", zm);
  printf("zmq_rtt_p99_us %.1f\n", zp);
  printf("tcp_rtt_median_us %.1f\n", tm);
  printf("tcp_rtt_p99_us %.1f\n", tp);
  return 0;
}
