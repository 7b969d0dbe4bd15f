/* test_security.c: CURVE clusters (security.h). `ctk keygen` writes key files that refuse to be
 * overwritten; a 3-node cluster with security = "curve" serves a linearizable workload to its
 * listed client while, at the same node, a client without CURVE, a client with an unlisted key,
 * and listed keys used to impersonate node 2 all get nothing: each refused connection or frame is
 * counted, an unlisted key is logged once however often it tries, and the cluster keeps
 * serving. A second listed client is served. Bad key files and configs fail with the file named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "clock.h"
#include "hostwire.h"
#include "kv.h"
#include "realnode.h"
#include "tmpdir.h"
#include "security.h"

static void read_key_file(const char *name, char *out) {
  char path[600];
  snprintf(path, sizeof path, "%s/keys/%s", tmpdir_path(), name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(out, CTK_KEY_Z85_LEN + 1, f));
  fclose(f);
  assert_int_equal(strlen(out), CTK_KEY_Z85_LEN);
}

/* A DEALER to node 0 that is a CURVE client with the given key pair (NULL: no CURVE at all). */
static void *curve_dealer(void *zmq, const char *endpoint, const char *server_public,
                          const char *public_key, const char *secret_key, const void *identity,
                          size_t identity_len) {
  void *s = zmq_socket(zmq, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  if (identity) zmq_setsockopt(s, ZMQ_ROUTING_ID, identity, identity_len);
  if (public_key) {
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_public, CTK_KEY_Z85_LEN), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, public_key, CTK_KEY_Z85_LEN), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret_key, CTK_KEY_Z85_LEN), 0);
  }
  assert_int_equal(zmq_connect(s, endpoint), 0);
  return s;
}

/* Sends a get request; returns 1 when any answer (an accepted or a rejected reply) comes back
 * within wait_ms. */
static int answered(void *s, uint64_t client_id, int wait_ms) {
  uint8_t cmd[128], frame[256];
  ctk_kv_command c = {.client_id = client_id, .seq = 1, .op = CTK_F_GET, .key = "k"};
  int len = ctk_kv_encode(&c, cmd, sizeof cmd);
  assert_true(len > 0);
  wire_writer w;
  wire_writer_init(&w);
  hw_put_request(&w, cmd, (size_t)len);
  zmq_send(s, w.data, w.len, ZMQ_DONTWAIT);
  wire_writer_free(&w);
  zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, wait_ms) <= 0) return 0;
  return zmq_recv(s, frame, sizeof frame, ZMQ_DONTWAIT) > 0;
}

static int count_in_file(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

static void test_keygen_refuses_to_overwrite(void **state) {
  (void)state;
  char cmd[700], out[1024];
  snprintf(cmd, sizeof cmd, "%s keygen %s/keys --nodes 3 --clients 2 2>&1", cli_bin(),
           tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_int_equal(cli_run(cmd, out, sizeof out), 1);
  assert_non_null(strstr(out, "not overwriting keys"));
  /* secret keys are readable by their owner only */
  snprintf(cmd, sizeof cmd, "stat -c %%a %s/keys/node-1.key", tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_int_equal(atoi(out), 600);
}

static void test_curve_cluster_serves_listed_keys_only(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster =
      realnode_start(&config, tmpdir_path(), "curve", "raft", 3,
                     "security = \"curve\"\nkeys = \"keys\"\n"
                     "[workload]\nclients = 4\nduration_s = 2\nwarmup_s = 0\nkeys = 10\n"
                     "client_timeout_ms = 300\n");
  const char *target = config.cluster.endpoints[0];
  char node0[CTK_KEY_Z85_LEN + 1], node1_pub[CTK_KEY_Z85_LEN + 1], node1_key[CTK_KEY_Z85_LEN + 1];
  char c1_pub[CTK_KEY_Z85_LEN + 1], c1_key[CTK_KEY_Z85_LEN + 1];
  read_key_file("node-0.pub", node0);
  read_key_file("node-1.pub", node1_pub);
  read_key_file("node-1.key", node1_key);
  read_key_file("client-1.pub", c1_pub);
  read_key_file("client-1.key", c1_key);
  char stranger_pub[CTK_KEY_Z85_LEN + 1], stranger_key[CTK_KEY_Z85_LEN + 1];
  assert_int_equal(zmq_curve_keypair(stranger_pub, stranger_key), 0);
  void *zmq = zmq_ctx_new();

  /* The second listed client is served. */
  void *listed = curve_dealer(zmq, target, node0, c1_pub, c1_key, NULL, 0);
  int ok = 0;
  for (int k = 0; k < 20 && !ok; k++) ok = answered(listed, 77, 250);
  assert_true(ok);

  hw_status before;
  assert_int_equal(ctk_local_cluster_status(cluster, 0, &before, 1000), 0);
  /* No CURVE at all, and an unlisted key (three connections): no answer. */
  void *plain = curve_dealer(zmq, target, NULL, NULL, NULL, NULL, 0);
  assert_false(answered(plain, 78, 300));
  void *unlisted[3];
  for (int k = 0; k < 3; k++) {
    unlisted[k] = curve_dealer(zmq, target, node0, stranger_pub, stranger_key, NULL, 0);
    assert_false(answered(unlisted[k], 79, 300));
  }
  /* Node 2 impersonated, with node 1's key and with a client's key: its frames are dropped. */
  ctk_local_cluster_kill(cluster, 2);
  uint32_t tag = hw_cluster_tag(&config.cluster);
  uint8_t id2[HW_PEER_ID_LEN];
  hw_peer_identity(2, tag, id2);
  void *as_node1 = curve_dealer(zmq, target, node0, node1_pub, node1_key, id2, sizeof id2);
  wire_writer w;
  wire_writer_init(&w);
  hw_put_peer(&w, 2, tag, (const uint8_t *)"hello", 5);
  ctk_sleep_us(200000); /* handshake */
  for (int k = 0; k < 10; k++) assert_true(zmq_send(as_node1, w.data, w.len, 0) >= 0);
  zmq_close(as_node1);
  void *as_client = curve_dealer(zmq, target, node0, c1_pub, c1_key, id2, sizeof id2);
  ctk_sleep_us(200000);
  for (int k = 0; k < 10; k++) assert_true(zmq_send(as_client, w.data, w.len, 0) >= 0);
  wire_writer_free(&w);
  ctk_sleep_us(300000);
  hw_status after;
  assert_int_equal(ctk_local_cluster_status(cluster, 0, &after, 1000), 0);
  print_message(
      "handshakes failed %llu -> %llu, frames rejected %llu -> %llu, malformed %llu\n",
      (unsigned long long)before.handshakes_failed, (unsigned long long)after.handshakes_failed,
      (unsigned long long)before.frames_rejected, (unsigned long long)after.frames_rejected,
      (unsigned long long)after.msgs_malformed);
  assert_true(after.handshakes_failed >= before.handshakes_failed + 4);
  assert_true(after.frames_rejected >= before.frames_rejected + 18); /* a few may be lost */
  assert_int_equal(after.msgs_malformed, before.msgs_malformed);     /* none reached the protocol */
  char log[700];
  snprintf(log, sizeof log, "%s/curve/node-0.log", tmpdir_path());
  assert_int_equal(count_in_file(log, stranger_pub), 1); /* logged once, refused every time */

  /* The cluster still serves its listed clients, linearizably, and converges. */
  char err[CTK_ERR_LEN];
  if (ctk_local_cluster_restart(cluster, 2, err, sizeof err)) fail_msg("%s", err);
  assert_true(realnode_run_workload(&config, cluster, -1) > 100);
  hw_status all[3];
  realnode_assert_converged(cluster, 3, all);
  zmq_close(listed);
  zmq_close(plain);
  zmq_close(as_client);
  for (int k = 0; k < 3; k++) zmq_close(unlisted[k]);
  zmq_ctx_term(zmq);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

static void test_bad_keys_are_named(void **state) {
  (void)state;
  char cmd[900], out[2048];
  /* A missing key directory: the node names the file it could not read. */
  snprintf(cmd, sizeof cmd,
           "printf 'protocol = \"raft\"\\n[cluster]\\nnodes = 3\\nbase_port = %d\\n"
           "security = \"curve\"\\nkeys = \"nokeys\"\\n' > %s/nokeys.toml && "
           "%s node %s/nokeys.toml --id 0 --dir %s/nokeys-n0 2>&1",
           cli_free_ports(4), tmpdir_path(), cli_bin(), tmpdir_path(), tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 1);
  assert_non_null(strstr(out, "cluster.keys: cannot read"));
  assert_non_null(strstr(out, "nokeys/node-0.key"));
  /* A corrupt key file. */
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s/badkeys && cp %s/keys/*.pub %s/badkeys/ && echo garbage > "
           "%s/badkeys/node-0.key && sed s/nokeys/badkeys/ %s/nokeys.toml > %s/badkeys.toml && "
           "%s node %s/badkeys.toml --id 0 --dir %s/badkeys-n0 2>&1",
           tmpdir_path(), tmpdir_path(), tmpdir_path(), tmpdir_path(), tmpdir_path(), tmpdir_path(),
           cli_bin(), tmpdir_path(), tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 1);
  assert_non_null(strstr(out, "badkeys/node-0.key: expected a CURVE key"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keygen_refuses_to_overwrite),
      cmocka_unit_test(test_curve_cluster_serves_listed_keys_only),
      cmocka_unit_test(test_bad_keys_are_named),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
