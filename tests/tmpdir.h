/* tmpdir.h: a scratch directory for the tests that write files: made fresh under $TMPDIR (else
 * /tmp) with a name no other run has, and removed with everything in it afterwards. Either one
 * directory for the whole test binary (cmocka group fixtures), or directories of the caller's. */
#ifndef CTK_TESTS_TMPDIR_H
#define CTK_TESTS_TMPDIR_H

#include <stddef.h>

/* cmocka group setup: makes the binary's directory (named after the program). Returns 0, or -1
 * when it could not. */
int tmpdir_setup(void **state);

/* cmocka group teardown: removes the binary's directory and all it holds. Returns 0, or -1 when
 * something could not be removed. */
int tmpdir_teardown(void **state);

/* The path of the binary's directory ("" before tmpdir_setup). */
const char *tmpdir_path(void);

/* Makes a fresh directory "$TMPDIR/ctk-<program>-XXXXXX" and writes its path into dir. Returns 0,
 * or -1 (errno set) when dir_len is too small or the directory could not be made. */
int tmpdir_make(char *dir, size_t dir_len);

/* Removes dir and everything below it (symbolic links are removed, never followed). Returns 0,
 * or -1 when something could not be removed (or dir does not exist). */
int tmpdir_remove(const char *dir);

#endif /* CTK_TESTS_TMPDIR_H */
