/* zwait.h: waiting for input on a few ZeroMQ sockets with fewer system calls than zmq_poll.
 *
 * zmq_poll asks every socket for ZMQ_EVENTS before and after it blocks, and each of those asks
 * costs libzmq a poll and a getpid (PITFALLS.md, README "Where the time goes"), whether or not the
 * socket was used since. A socket's ZMQ_FD only becomes readable when commands reach it, and only
 * after ZMQ_EVENTS (or a send or receive) has processed the earlier ones: so a socket left alone
 * since ZMQ_EVENTS reported no input can be waited on through its fd alone. zwait asks ZMQ_EVENTS
 * only of the sockets used since the last wait ("touched"), then blocks in one poll() on the fds.
 *
 * The caller's part: call ctk_zwait_touched for every send or receive on a socket of the set
 * (or touch the busy ones after every wait), and read a ready socket until EAGAIN: a ready fd
 * is a hint, not a promise of a frame. */
#ifndef CTK_ZWAIT_H
#define CTK_ZWAIT_H

#define CTK_ZWAIT_MAX 16

typedef struct ctk_zwait {
  void *sockets[CTK_ZWAIT_MAX];
  int fds[CTK_ZWAIT_MAX];
  int touched[CTK_ZWAIT_MAX]; /* used since ZMQ_EVENTS last said what it holds */
  int n;
} ctk_zwait;

void ctk_zwait_init(ctk_zwait *self);
/* Adds a socket (touched to begin with); returns its index, or -1 when the set is full or
 * ZMQ_FD fails. */
int ctk_zwait_add(ctk_zwait *self, void *socket);
/* k outside the set is ignored. */
static inline void ctk_zwait_touched(ctk_zwait *self, int k) {
  if (k >= 0 && k < self->n) self->touched[k] = 1;
}
/* Sets ready[k] (for every k below n) to 1 when socket k may have input: at once when a touched
 * socket has some, else after blocking up to timeout_ms (-1: no limit) until a fd fires. Returns
 * how many are ready (0 on timeout or EINTR), or -1 with errno. */
int ctk_zwait_wait(ctk_zwait *self, long timeout_ms, int *ready);

#endif /* CTK_ZWAIT_H */
