/* tmpdir.c: the tests' scratch directories (tmpdir.h). */
#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char binary_dir[PATH_MAX]; /* tmpdir_setup's directory */

int tmpdir_make(char *dir, size_t dir_len) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  int n = snprintf(dir, dir_len, "%s/ctk-%s-XXXXXX", base, program_invocation_short_name);
  if (n < 0 || (size_t)n >= dir_len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int tmpdir_remove(const char *dir) {
  return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int tmpdir_setup(void **state) {
  (void)state;
  return tmpdir_make(binary_dir, sizeof binary_dir);
}

int tmpdir_teardown(void **state) {
  (void)state;
  return tmpdir_remove(binary_dir);
}

const char *tmpdir_path(void) { return binary_dir; }
