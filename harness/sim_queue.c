/* sim_queue.c: the simulator's event queue, a binary min-heap on (time, seq). The seq tie-break
 * makes the order of simultaneous events the order they were scheduled in: deterministic. */
#include <stdlib.h>

#include "sim_internal.h"

static int event_before(const sim_event *a, const sim_event *b) {
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

int sim_queue_push(sim_queue *q, sim_event *ev) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 1024;
    sim_event *heap = realloc(q->heap, cap * sizeof *heap);
    if (!heap) return -1;
    q->heap = heap;
    q->cap = cap;
  }
  ev->seq = q->next_seq++;
  size_t i = q->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!event_before(ev, &q->heap[parent])) break;
    q->heap[i] = q->heap[parent];
    i = parent;
  }
  q->heap[i] = *ev;
  return 0;
}

const sim_event *sim_queue_peek(const sim_queue *q) { return q->n ? &q->heap[0] : NULL; }

int sim_queue_pop(sim_queue *q, sim_event *ev) {
  if (!q->n) return 0;
  *ev = q->heap[0];
  sim_event last = q->heap[--q->n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= q->n) break;
    if (child + 1 < q->n && event_before(&q->heap[child + 1], &q->heap[child])) child++;
    if (!event_before(&q->heap[child], &last)) break;
    q->heap[i] = q->heap[child];
    i = child;
  }
  if (q->n) q->heap[i] = last;
  return 1;
}

void sim_queue_free(sim_queue *q) {
  for (size_t i = 0; i < q->n; i++) free(q->heap[i].data);
  free(q->heap);
  q->heap = NULL;
  q->n = q->cap = 0;
}
