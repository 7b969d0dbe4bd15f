/* test_history.c: the client history: interning, JSON-lines round trip, and every reader error
 * reported with its file and line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"

/* Writes text to a new temporary file; the caller unlinks and frees the returned path. */
static char *temp_file_with(const char *text, size_t len) {
  char *path = strdup("/tmp/ctk_test_history_XXXXXX");
  assert_non_null(path);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

/* Reads text as a history; returns the reader's status with its message in err. */
static int read_text(const char *text, char *err, size_t err_len, ctk_history *h) {
  char *path = temp_file_with(text, strlen(text));
  int rc = ctk_history_read_jsonl(path, h, err, err_len);
  unlink(path);
  free(path);
  return rc;
}

static int same_string(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void add(ctk_history *h, int64_t p, ctk_hist_type t, ctk_op_f f, uint64_t time,
                const char *key, const char *value, const char *expected) {
  assert_int_equal(ctk_history_add(h, p, t, f, time, key, value, expected), 0);
}

static void test_interning(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  char key[8] = "k1";
  add(&h, 1, CTK_HIST_INVOKE, CTK_F_PUT, 1, key, "v", NULL);
  key[1] = '2';
  add(&h, 2, CTK_HIST_INVOKE, CTK_F_PUT, 2, key, "v", NULL);
  key[1] = '1';
  add(&h, 1, CTK_HIST_OK, CTK_F_PUT, 3, key, "v", NULL);
  assert_ptr_equal(h.events[0].key, h.events[2].key);
  assert_ptr_not_equal(h.events[0].key, h.events[1].key);
  assert_ptr_equal(h.events[0].value, h.events[1].value);
  assert_ptr_not_equal(h.events[0].key, key); /* copied, not borrowed */
  assert_string_equal(h.events[1].key, "k2");
  ctk_history_free(&h);
}

/* A completion takes its invocation's process, f, key and expected, and its value when equal;
 * another value is interned as ctk_history_add interns it. */
static void test_complete(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  add(&h, 4, CTK_HIST_INVOKE, CTK_F_PUT, 1, "k1", "v", NULL);
  add(&h, 5, CTK_HIST_INVOKE, CTK_F_GET, 2, "k1", NULL, NULL);
  add(&h, 6, CTK_HIST_INVOKE, CTK_F_CAS, 3, "k2", "new", "old");
  char v[4] = "v";
  assert_int_equal(ctk_history_complete(&h, 0, CTK_HIST_OK, 10, v), 0);
  assert_int_equal(ctk_history_complete(&h, 1, CTK_HIST_OK, 11, v), 0);
  assert_int_equal(ctk_history_complete(&h, 2, CTK_HIST_FAIL, 12, "new"), 0);
  assert_int_equal(ctk_history_complete(&h, 1, CTK_HIST_OK, 13, NULL), 0);
  assert_int_equal(h.n, 7);
  const ctk_hist_event *put = &h.events[3], *get = &h.events[4], *cas = &h.events[5];
  assert_int_equal(put->process, 4);
  assert_int_equal(put->f, CTK_F_PUT);
  assert_int_equal(put->type, CTK_HIST_OK);
  assert_int_equal(put->time_us, 10);
  assert_ptr_equal(put->key, h.events[0].key);
  assert_ptr_equal(put->value, h.events[0].value);
  assert_ptr_not_equal(put->value, v); /* copied, not borrowed */
  assert_int_equal(get->process, 5);
  assert_ptr_equal(get->value, h.events[0].value); /* a read value: interned */
  assert_int_equal(cas->type, CTK_HIST_FAIL);
  assert_string_equal(cas->value, "new");
  assert_string_equal(cas->expected, "old");
  assert_ptr_equal(cas->expected, h.events[2].expected);
  assert_null(h.events[6].value);
  /* Only an invocation can be completed. */
  assert_int_equal(ctk_history_complete(&h, 3, CTK_HIST_OK, 14, "v"), -1);
  assert_int_equal(ctk_history_complete(&h, 7, CTK_HIST_OK, 14, "v"), -1);
  assert_int_equal(h.n, 7);
  ctk_history_free(&h);
}

/* Every kind of event, and strings that need escaping. */
static void build_varied_history(ctk_history *h) {
  ctk_history_init(h);
  const char *odd = "q\"uote\\back\nnew\ttab\r\x01\x1f caf\xc3\xa9 \xe2\x82\xac /";
  add(h, 0, CTK_HIST_INVOKE, CTK_F_PUT, 0, "k", odd, NULL);
  add(h, -7, CTK_HIST_INVOKE, CTK_F_GET, 5, odd, NULL, NULL);
  add(h, 0, CTK_HIST_OK, CTK_F_PUT, 10, "k", odd, NULL);
  add(h, -7, CTK_HIST_OK, CTK_F_GET, 11, odd, NULL, NULL);
  add(h, 3, CTK_HIST_INVOKE, CTK_F_CAS, 12, "k", "new", NULL);
  add(h, 3, CTK_HIST_FAIL, CTK_F_CAS, 13, "k", "new", NULL);
  add(h, 3, CTK_HIST_INVOKE, CTK_F_CAS, 14, "k", NULL, "old");
  add(h, 3, CTK_HIST_INFO, CTK_F_CAS, 15, "k", NULL, "old");
  add(h, INT64_MAX, CTK_HIST_INVOKE, CTK_F_GET, (uint64_t)INT64_MAX - 1, "", NULL, NULL);
  add(h, INT64_MAX, CTK_HIST_OK, CTK_F_GET, (uint64_t)INT64_MAX, "", "", NULL);
  add(h, 9, CTK_HIST_INVOKE, CTK_F_PUT, 20, "k", "x", NULL); /* never completed */
}

static void test_round_trip(void **state) {
  (void)state;
  ctk_history h, back;
  build_varied_history(&h);
  char *text = NULL;
  size_t text_len = 0;
  FILE *out = open_memstream(&text, &text_len);
  assert_non_null(out);
  assert_int_equal(ctk_history_write_jsonl(&h, out), 0);
  fclose(out);

  char err[256] = "";
  int rc = read_text(text, err, sizeof err, &back);
  if (rc != 0) fail_msg("%s", err);
  assert_int_equal(back.n, h.n);
  for (size_t i = 0; i < h.n; i++) {
    const ctk_hist_event *a = &h.events[i], *b = &back.events[i];
    assert_int_equal(a->process, b->process);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->f, b->f);
    assert_int_equal(a->time_us, b->time_us);
    assert_true(same_string(a->key, b->key));
    assert_true(same_string(a->value, b->value));
    assert_true(same_string(a->expected, b->expected));
  }

  /* Writing what was read gives the same bytes. */
  char *again = NULL;
  size_t again_len = 0;
  out = open_memstream(&again, &again_len);
  assert_int_equal(ctk_history_write_jsonl(&back, out), 0);
  fclose(out);
  assert_int_equal(again_len, text_len);
  assert_memory_equal(again, text, text_len);
  free(again);
  free(text);
  ctk_history_free(&back);
  ctk_history_free(&h);
}

static void test_write_format(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  add(&h, 3, CTK_HIST_INVOKE, CTK_F_CAS, 7, "k7", "v2", NULL);
  add(&h, 3, CTK_HIST_OK, CTK_F_CAS, 9, "k7", "v2", NULL);
  add(&h, 4, CTK_HIST_INVOKE, CTK_F_GET, 10, "k7", NULL, NULL);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_int_equal(ctk_history_write_jsonl(&h, out), 0);
  fclose(out);
  assert_string_equal(
      text,
      "{\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k7\",\"value\":[null,\"v2\"],"
      "\"time\":7}\n"
      "{\"process\":3,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"k7\",\"value\":[null,\"v2\"],"
      "\"time\":9}\n"
      "{\"process\":4,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k7\",\"value\":null,"
      "\"time\":10}\n");
  free(text);
  ctk_history_free(&h);
}

static void test_blank_lines_and_extra_fields(void **state) {
  (void)state;
  const char *text =
      "\n"
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"put\", \"key\": \"a\", \"value\": \"1\", "
      "\"time\": 5, \"node\": 2}\n"
      "   \r\n"
      "{\"time\": 6, \"value\": \"1\", \"key\": \"a\", \"f\": \"put\", \"type\": \"ok\", "
      "\"process\": 1}\r\n"
      "\t\n"
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"get\", \"key\": \"a\", \"value\": null, "
      "\"time\": 7}"; /* no final newline */
  ctk_history h;
  char err[256] = "";
  int rc = read_text(text, err, sizeof err, &h);
  if (rc != 0) fail_msg("%s", err);
  assert_int_equal(h.n, 3);
  assert_int_equal(h.events[1].type, CTK_HIST_OK);
  assert_int_equal(h.events[1].time_us, 6);
  assert_int_equal(h.events[2].f, CTK_F_GET);
  assert_null(h.events[2].value);
  ctk_history_free(&h);
}

#define INV_PUT(p, key, t)                                               \
  "{\"process\":" #p ",\"type\":\"invoke\",\"f\":\"put\",\"key\":\"" key \
  "\",\"value\":\"v\",\"time\":" #t "}\n"

typedef struct bad_case {
  const char *text;
  const char *where;  /* ":LINE: " expected in the message */
  const char *reason; /* a fragment of the reason */
} bad_case;

static void test_malformed_inputs(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"{\"process\":1,", ":1: ", "bad JSON"},
      {"\n\n[1, 2]\n", ":3: ", "not a JSON object"},
      {"{\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "missing field \"process\""},
      {"{\"process\":1,\"f\":\"get\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "missing field \"type\""},
      {"{\"process\":1,\"type\":\"invoke\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "missing field \"f\""},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"value\":null,\"time\":1}",
       ":1: ", "missing field \"key\""},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"time\":1}",
       ":1: ", "missing field \"value\""},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null}",
       ":1: ", "missing field \"time\""},
      {"{\"process\":\"1\",\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null,"
       "\"time\":1}",
       ":1: ", "\"process\" is not an integer"},
      {"{\"process\":1.5,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null,"
       "\"time\":1}",
       ":1: ", "\"process\" is not an integer"},
      {"{\"process\":1,\"type\":7,\"f\":\"get\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "\"type\" is not a string"},
      {"{\"process\":1,\"type\":\"begin\",\"f\":\"get\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "unknown type \"begin\""},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":null,\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "\"f\" is not a string"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"del\",\"key\":\"k\",\"value\":null,\"time\":1}",
       ":1: ", "unknown f \"del\""},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":3,\"value\":null,\"time\":1}",
       ":1: ", "\"key\" is not a string"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null,"
       "\"time\":\"1\"}",
       ":1: ", "\"time\" is not an integer"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null,"
       "\"time\":-1}",
       ":1: ", "\"time\" is negative"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\",\"value\":5,\"time\":1}",
       ":1: ", "\"value\" of a put is not a string or null"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":[],\"time\":1}",
       ":1: ", "\"value\" of a get is not a string or null"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":\"v\","
       "\"time\":1}",
       ":1: ", "\"value\" of a cas is not [expected, new]"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[null],"
       "\"time\":1}",
       ":1: ", "\"value\" of a cas is not [expected, new]"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[\"a\",1],"
       "\"time\":1}",
       ":1: ", "\"value\" of a cas is not [expected, new]"},
      {"{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[\"a\",\"b\","
       "\"c\"],\"time\":1}",
       ":1: ", "\"value\" of a cas is not [expected, new]"},
      {"{\"process\":1,\"process\":2,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\","
       "\"value\":null,\"time\":1}",
       ":1: ", "bad JSON"},
      /* pairing */
      {INV_PUT(1, "k", 1) INV_PUT(2, "k", 2) "\n"
                                             "{\"process\":2,\"type\":\"ok\",\"f\":\"put\",\"key\":"
                                             "\"k\",\"value\":\"v\",\"time\":3}\n"
                                             "{\"process\":2,\"type\":\"ok\",\"f\":\"put\",\"key\":"
                                             "\"k\",\"value\":\"v\",\"time\":4}\n",
       ":5: ", "process 2 completes (ok) without an open invoke"},
      {"{\"process\":4,\"type\":\"info\",\"f\":\"put\",\"key\":\"k\",\"value\":\"v\",\"time\":3}\n",
       ":1: ", "process 4 completes (info) without an open invoke"},
      {INV_PUT(1, "k", 1) "\n" INV_PUT(1, "j", 2),
       ":3: ", "process 1 invokes while its invoke on line 1 is still open"},
      {INV_PUT(1, "k", 1) "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"value\":"
                          "\"v\",\"time\":3}\n",
       ":2: ", "completion f \"get\" differs from its invoke's \"put\" (line 1)"},
      {INV_PUT(1, "k", 1) "{\"process\":1,\"type\":\"fail\",\"f\":\"put\",\"key\":\"j\",\"value\":"
                          "\"v\",\"time\":3}\n",
       ":2: ", "completion key \"j\" differs from its invoke's \"k\" (line 1)"},
      {INV_PUT(1, "k", 9) "{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"value\":"
                          "\"v\",\"time\":3}\n",
       ":2: ", "completion time 3 precedes its invoke's 9 (line 1)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ctk_history h;
    char err[512] = "";
    char *path = temp_file_with(cases[i].text, strlen(cases[i].text));
    int rc = ctk_history_read_jsonl(path, &h, err, sizeof err);
    ctk_history_free(&h);
    if (rc != -1) fail_msg("case %zu was accepted", i);
    char where[600];
    snprintf(where, sizeof where, "%s%s", path, cases[i].where);
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, cases[i].reason))
      fail_msg("case %zu: message \"%s\", expected \"%s...%s\"", i, err, where, cases[i].reason);
    unlink(path);
    free(path);
  }
}

static void test_missing_file_and_long_line(void **state) {
  (void)state;
  ctk_history h;
  char err[256] = "";
  assert_int_equal(ctk_history_read_jsonl("/nonexistent/ctk/history.jsonl", &h, err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "/nonexistent/ctk/history.jsonl"));
  assert_non_null(strstr(err, "cannot open"));
  ctk_history_free(&h);

  const char *first = INV_PUT(1, "k", 1);
  size_t head = strlen(first), n = (size_t)CTK_HISTORY_MAX_LINE + 10;
  char *text = malloc(head + n + 1);
  assert_non_null(text);
  memcpy(text, first, head);
  memset(text + head, ' ', n);
  text[head + n] = '\n';
  char *path = temp_file_with(text, head + n + 1);
  assert_int_equal(ctk_history_read_jsonl(path, &h, err, sizeof err), -1);
  assert_non_null(strstr(err, ":2: line longer than"));
  ctk_history_free(&h);
  unlink(path);
  free(path);
  free(text);
}

/* Open invokes at the end of the file are fine (the checker treats them as info). */
static void test_open_invokes_at_end(void **state) {
  (void)state;
  ctk_history h;
  char err[256] = "";
  int rc = read_text(INV_PUT(1, "k", 1) INV_PUT(2, "k", 2), err, sizeof err, &h);
  if (rc != 0) fail_msg("%s", err);
  assert_int_equal(h.n, 2);
  ctk_history_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interning),
      cmocka_unit_test(test_complete),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_write_format),
      cmocka_unit_test(test_blank_lines_and_extra_fields),
      cmocka_unit_test(test_malformed_inputs),
      cmocka_unit_test(test_missing_file_and_long_line),
      cmocka_unit_test(test_open_invokes_at_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
