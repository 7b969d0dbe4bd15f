/* commitlist.h: the commits one protocol step hands the host (output.commits), in execution
 * order, in an array reused from step to step. Running out of memory is returned, never a crash.
 * A zeroed ctk_commit_list is an empty one. */
#ifndef CTK_COMMITLIST_H
#define CTK_COMMITLIST_H

#include <stddef.h>
#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_commit_list {
  ctk_commit *items;
  size_t n, cap;
} ctk_commit_list;

/* Appends the commit of data[0, len) at index (pointing at it: it must live until the next
 * step): 0, or -1 when out of memory (nothing appended). */
int ctk_commit_list_push(ctk_commit_list *l, uint64_t index, const uint8_t *data, size_t len);

void ctk_commit_list_free(ctk_commit_list *l);

#endif /* CTK_COMMITLIST_H */
