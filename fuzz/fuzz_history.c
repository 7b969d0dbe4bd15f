/* fuzz_history.c: libFuzzer target: arbitrary bytes as a JSON-lines history, read and then
 * checked. Reading must succeed or fail with "FILE:LINE: reason"; checking must not crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checker.h"
#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/ctk-fuzz-history-%d.jsonl", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  ctk_history h;
  char err[512];
  if (ctk_history_read_jsonl(path, &h, err, sizeof err) == 0) {
    ctk_check_result r;
    if (ctk_check_history_bounded(&h, 100000, &r, err, sizeof err) == 0) ctk_check_result_free(&r);
  } else if (strncmp(err, path, strlen(path)) != 0) {
    abort();
  }
  ctk_history_free(&h);
  return 0;
}
