/* fuzz_config.c: libFuzzer target: arbitrary text as an experiment file. Loading must succeed
 * or return a message naming the file, never crash (toml++ behind its C API included). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  ctk_config config;
  char err[CTK_ERR_LEN];
  if (ctk_config_load_string(text, "fuzz.toml", &config, err, sizeof err) == 0)
    ctk_config_free(&config);
  else if (strncmp(err, "fuzz.toml", 9) != 0)
    abort();
  free(text);
  return 0;
}
