/* commitlist.c: the commits of one protocol step (commitlist.h). */
#include "commitlist.h"

#include <stdlib.h>

#define COMMITLIST_INITIAL_CAP 64

int ctk_commit_list_push(ctk_commit_list *l, uint64_t index, const uint8_t *data, size_t len) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : COMMITLIST_INITIAL_CAP;
    ctk_commit *items = realloc(l->items, cap * sizeof *items);
    if (!items) return -1;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = (ctk_commit){index, {data, len}};
  return 0;
}

void ctk_commit_list_free(ctk_commit_list *l) {
  free(l->items);
  *l = (ctk_commit_list){0};
}
