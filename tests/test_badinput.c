/* test_badinput.c: the bad-input matrix, for every protocol ctk knows, on real node processes.
 *
 * A 3-node cluster of the protocol; node 2 is killed and the test takes over its identity toward
 * node 0 (as an attacker on the network could without CURVE) and sends, besides junk from a
 * client's identity: truncated frames, an oversized frame, frames with a wrong magic or kind,
 * peer frames with out-of-range or mismatched node ids, and the protocol's own messages (made by
 * an instance of the protocol in this process) truncated, with a wrong version byte, and with
 * 8-byte fields overwritten by extreme values, keeping only the variants the protocol's codec
 * refuses. Every one must be dropped and counted by node 0 (rejected frames or malformed
 * messages). Then, while a workload runs on the healed cluster, a rogue client floods node 0 with
 * garbage at full speed for a second: the workload's history stays linearizable, it keeps making
 * progress during the flood and after it, node 0's memory stays bounded, and the replicas
 * converge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "checker.h"
#include "cli.h"
#include "clock.h"
#include "common/rng.h"
#include "hostwire.h"
#include "loadgen.h"
#include "protocol.h"
#include "realnode.h"
#include "tmpdir.h"

/* ---- the protocol's own messages, from node 2 to node 0 ---- */

typedef struct msg_set {
  uint8_t *data[64];
  size_t len[64];
  int n;
} msg_set;

static void keep_messages_to_0(msg_set *set, const ctk_output *out) {
  for (size_t k = 0; k < out->n_messages && set->n < 64; k++) {
    if (out->messages[k].to != 0 || out->messages[k].bytes.len == 0) continue;
    set->len[set->n] = out->messages[k].bytes.len;
    set->data[set->n] = malloc(set->len[set->n]);
    memcpy(set->data[set->n], out->messages[k].bytes.data, set->len[set->n]);
    set->n++;
  }
}

/* What node 2 of a 3-node cluster sends node 0 when it times out and when a client command
 * reaches it: election or proposal messages, whatever the protocol does. */
static void protocol_messages(const ctk_protocol_def *def, msg_set *set) {
  void *options = calloc(1, def->options_size);
  ctk_protocol_default_options(def, options);
  ctk_node_config cfg = {.node_id = 2, .n_nodes = 3, .seed = 5};
  char err[200];
  ctk_proto *p = def->create(&cfg, options, err, sizeof err);
  assert_non_null(p);
  ctk_output out;
  ctk_event ev = {.kind = CTK_EVENT_START, .now_us = 1};
  assert_int_equal(def->step(p, &ev, &out), CTK_OK);
  uint64_t now = 1;
  for (int round = 0; round < 4; round++) {
    now = out.next_deadline_us == CTK_DEADLINE_NONE ? now + 1000000 : out.next_deadline_us;
    ev = (ctk_event){.kind = CTK_EVENT_TIMEOUT, .now_us = now};
    assert_int_equal(def->step(p, &ev, &out), CTK_OK);
    keep_messages_to_0(set, &out);
    ev =
        (ctk_event){.kind = CTK_EVENT_COMMAND, .now_us = now, .bytes = {(const uint8_t *)"cmd", 3}};
    if (def->step(p, &ev, &out) == CTK_OK) keep_messages_to_0(set, &out);
  }
  def->destroy(p);
  free(options);
  assert_true(set->n > 0);
}

static void free_messages(msg_set *set) {
  for (int i = 0; i < set->n; i++) free(set->data[i]);
}

/* ---- sending ---- */

typedef struct barrage {
  void *as_node2, *as_client;
  uint32_t tag;
  int frames;    /* sent, each of which node 0 must drop and count */
  int malformed; /* of them, protocol messages its codec refuses */
} barrage;

static void send_raw(barrage *b, void *socket, const void *data, size_t len) {
  assert_true(zmq_send(socket, data, len, 0) >= 0);
  b->frames++;
}

static void send_peer(barrage *b, int from, uint32_t tag, const uint8_t *msg, size_t len) {
  wire_writer w;
  wire_writer_init(&w);
  hw_put_peer(&w, from, tag, msg, len);
  send_raw(b, b->as_node2, w.data, w.len);
  wire_writer_free(&w);
}

/* A variant of a protocol message the codec refuses goes out as node 2's; others are dropped. */
static void send_if_refused(barrage *b, const ctk_protocol_def *def, const uint8_t *msg,
                            size_t len) {
  char desc[256];
  if (def->describe(msg, len, desc, sizeof desc) >= 0) return;
  send_peer(b, 2, b->tag, msg, len);
  b->malformed++;
}

static void send_matrix(barrage *b, const ctk_protocol_def *def, const ctk_config *config) {
  ctk_rng rng;
  ctk_rng_seed(&rng, 11);
  uint8_t junk[512];
  /* From a client's identity: random bytes, some starting like a frame. */
  for (int k = 0; k < 50; k++) {
    size_t len = (size_t)ctk_rng_range(&rng, 0, sizeof junk - 1);
    for (size_t i = 0; i < len; i++) junk[i] = (uint8_t)ctk_rng_next(&rng);
    if (k % 2 && len > 2) junk[0] = HW_MAGIC;
    if (len >= 2 && junk[0] == HW_MAGIC && junk[1] == HW_REQUEST) junk[1] = 0xEE;
    send_raw(b, b->as_client, junk, len);
  }
  /* Oversized. */
  size_t big_len = (size_t)config->node.max_frame_bytes + 1;
  uint8_t *big = calloc(1, big_len);
  big[0] = HW_MAGIC;
  big[1] = HW_PEER;
  send_raw(b, b->as_node2, big, big_len);
  free(big);
  msg_set set = {0};
  protocol_messages(def, &set);
  for (int m = 0; m < set.n; m++) {
    const uint8_t *msg = set.data[m];
    size_t len = set.len[m];
    wire_writer w;
    wire_writer_init(&w);
    hw_put_peer(&w, 2, b->tag, msg, len);
    /* The frame truncated inside its header, and with a wrong magic and a wrong kind. */
    for (size_t cut = 0; cut < w.len && cut < 8; cut++) send_raw(b, b->as_node2, w.data, cut);
    w.data[0] ^= 0xFF;
    send_raw(b, b->as_node2, w.data, w.len);
    w.data[0] ^= 0xFF;
    w.data[1] = 0x7F;
    send_raw(b, b->as_node2, w.data, w.len);
    wire_writer_free(&w);
    /* Node ids out of range or not matching the connection, another cluster's tag. */
    send_peer(b, 7, b->tag, msg, len);
    send_peer(b, 0, b->tag, msg, len);
    send_peer(b, 1, b->tag, msg, len);
    send_peer(b, 2, b->tag ^ 0x5A5A, msg, len);
    /* The message truncated, with another version byte, and with extreme 8-byte fields. */
    for (size_t cut = 0; cut < len; cut += 1 + len / 16) send_if_refused(b, def, msg, cut);
    uint8_t *copy = malloc(len + 8);
    memcpy(copy, msg, len);
    copy[0] ^= 0xFF;
    send_if_refused(b, def, copy, len);
    static const uint8_t extremes[][8] = {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
                                          {0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
                                          {0x80, 0, 0, 0, 0, 0, 0, 0}};
    for (size_t off = 1; off + 8 <= len; off++)
      for (size_t e = 0; e < sizeof extremes / sizeof extremes[0]; e++) {
        memcpy(copy, msg, len);
        memcpy(copy + off, extremes[e], 8);
        send_if_refused(b, def, copy, len);
      }
    free(copy);
  }
  free_messages(&set);
}

/* ---- the flood ---- */

typedef struct flood {
  const char *endpoint;
  atomic_int stop;
  uint64_t sent;
} flood;

static void *flood_main(void *arg) {
  flood *f = arg;
  void *zmq = zmq_ctx_new();
  void *s = realnode_dealer(zmq, "rogue", 5, f->endpoint);
  int hwm = 1000;
  zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
  ctk_rng rng;
  ctk_rng_seed(&rng, 99);
  uint8_t buf[256];
  while (!atomic_load(&f->stop)) {
    size_t len = (size_t)ctk_rng_range(&rng, 1, sizeof buf);
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)ctk_rng_next(&rng);
    buf[0] = HW_MAGIC;
    if (zmq_send(s, buf, len, ZMQ_DONTWAIT) >= 0)
      f->sent++;
    else
      ctk_sleep_us(50);
  }
  zmq_close(s);
  zmq_ctx_term(zmq);
  return NULL;
}

static long rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* Operations completed in [from, to) seconds of the run, from samples taken every 100 ms. */
static uint64_t ok_between(const uint64_t *samples, int from_tenths, int to_tenths) {
  return samples[to_tenths] - samples[from_tenths];
}

static void run_matrix(const ctk_protocol_def *def) {
  ctk_config config;
  char name[64];
  snprintf(name, sizeof name, "matrix-%s", def->name);
  ctk_local_cluster *cluster =
      realnode_start(&config, tmpdir_path(), name, def->name, 3,
                     "[workload]\nclients = 4\nduration_s = 4.5\nwarmup_s = 0\nkeys = 10\n"
                     "client_timeout_ms = 300\n");
  const char *target = config.cluster.endpoints[0];
  hw_status before, after;
  assert_int_equal(ctk_local_cluster_status(cluster, 0, &before, 1000), 0);
  ctk_local_cluster_kill(cluster, 2);
  void *zmq = zmq_ctx_new();
  barrage b = {.tag = hw_cluster_tag(&config.cluster)};
  uint8_t id2[HW_PEER_ID_LEN];
  hw_peer_identity(2, b.tag, id2);
  b.as_node2 = realnode_dealer(zmq, id2, sizeof id2, target);
  b.as_client = realnode_dealer(zmq, "attacker", 8, target);
  ctk_sleep_us(100000); /* connected */
  send_matrix(&b, def, &config);
  /* Node 0 counts what it dropped; wait until it has seen everything. */
  uint64_t counted = 0, deadline = ctk_clock_us() + 3000000;
  do {
    ctk_sleep_us(100000);
    assert_int_equal(ctk_local_cluster_status(cluster, 0, &after, 1000), 0);
    counted = (after.frames_rejected - before.frames_rejected) +
              (after.msgs_malformed - before.msgs_malformed);
  } while (counted < (uint64_t)b.frames && ctk_clock_us() < deadline);
  print_message(
      "%s: %d bad frames sent (%d protocol messages the codec refuses); node 0 "
      "counted %llu rejected frames and %llu malformed messages\n",
      def->name, b.frames, b.malformed,
      (unsigned long long)(after.frames_rejected - before.frames_rejected),
      (unsigned long long)(after.msgs_malformed - before.msgs_malformed));
  assert_int_equal(counted, (uint64_t)b.frames);
  assert_true(after.msgs_malformed - before.msgs_malformed >= (uint64_t)b.malformed);
  zmq_close(b.as_node2);
  zmq_close(b.as_client);
  zmq_ctx_term(zmq);
  char err[CTK_ERR_LEN];
  if (ctk_local_cluster_restart(cluster, 2, err, sizeof err)) fail_msg("%s", err);

  /* A workload with a flood of garbage at node 0 from 1.5 s to 2.5 s. */
  uint64_t t0 = ctk_clock_us();
  ctk_loadgen *lg = ctk_loadgen_start(&config, t0, 1, err, sizeof err);
  if (!lg) fail_msg("%s", err);
  flood f = {.endpoint = target};
  atomic_init(&f.stop, 0);
  pthread_t thread;
  int flooding = 0;
  uint64_t samples[64] = {0};
  long rss_before = rss_kb(ctk_local_cluster_pid(cluster, 0)), rss_peak = rss_before;
  for (int tenth = 1; tenth < 64; tenth++) {
    while (ctk_clock_us() - t0 < (uint64_t)tenth * 100000) ctk_sleep_us(5000);
    ctk_loadgen_stats st;
    ctk_loadgen_stats_get(lg, &st);
    samples[tenth] = st.ok;
    if (tenth == 15) flooding = pthread_create(&thread, NULL, flood_main, &f) == 0;
    if (tenth == 25 && flooding) {
      atomic_store(&f.stop, 1);
      pthread_join(thread, NULL);
    }
    long rss = rss_kb(ctk_local_cluster_pid(cluster, 0));
    if (rss > rss_peak) rss_peak = rss;
    if (st.finished) {
      ctk_loadgen_finish(lg);
      if (st.outstanding == 0 && tenth >= 45) break;
    }
  }
  assert_true(flooding);
  ctk_history history;
  ctk_loadgen_join(&lg, &history);
  ctk_check_result check;
  assert_int_equal(ctk_check_history(&history, &check, err, sizeof err), 0);
  assert_int_equal(check.linearizable, 1);
  ctk_check_result_free(&check);
  ctk_history_free(&history);
  uint64_t calm = ok_between(samples, 5, 15), flooded = ok_between(samples, 15, 25),
           recovered = ok_between(samples, 30, 40);
  hw_status last;
  assert_int_equal(ctk_local_cluster_status(cluster, 0, &last, 1000), 0);
  print_message(
      "%s: flood of %llu garbage frames in 1 s (node 0 rejected %llu); ops per second "
      "%llu before, %llu during, %llu after; node 0 RSS %ld kB before, peak %ld kB\n",
      def->name, (unsigned long long)f.sent,
      (unsigned long long)(last.frames_rejected - after.frames_rejected), (unsigned long long)calm,
      (unsigned long long)flooded, (unsigned long long)recovered, rss_before, rss_peak);
  assert_true(f.sent > 1000);
  assert_true(flooded > 0);          /* served through the flood */
  assert_true(recovered > calm / 4); /* and back to speed after it */
  assert_true(rss_peak - rss_before < 64 * 1024);
  hw_status all[3];
  realnode_assert_converged(cluster, 3, all);
  assert_int_equal(ctk_local_cluster_check_exits(cluster, err, sizeof err), -1);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

static void test_bad_input_matrix_every_protocol(void **state) {
  (void)state;
  for (size_t i = 0; i < ctk_protocol_count(); i++) run_matrix(ctk_protocol_at(i));
}

static int setup(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer keeps freed memory in a quarantine (256 MB by default) before reusing it,
   * which a flood of short-lived frames fills: the nodes' memory would measure ASan, not them.
   * A small quarantine keeps the bound meaningful (node processes inherit the setting). */
  const char *old = getenv("ASAN_OPTIONS");
  char options[512];
  snprintf(options, sizeof options, "%s%squarantine_size_mb=1", old ? old : "", old ? ":" : "");
  setenv("ASAN_OPTIONS", options, 1);
#endif
  return tmpdir_setup(state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input_matrix_every_protocol),
  };
  return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
