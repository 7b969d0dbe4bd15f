/* security.c: CURVE key files, securing sockets, and the ZAP handler (see security.h). */
#include "security.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT    "inproc://zeromq.zap.01"
#define ZAP_MAX_REFUSED 256 /* distinct refused keys remembered, to log each once */

/* ---- key files ---- */

static int key_path(char *out, size_t out_len, const char *dir, const char *name, const char *ext) {
  int n = snprintf(out, out_len, "%s/%s.%s", dir, name, ext);
  return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

static int write_key(const char *path, const char *z85, mode_t mode, char *err, size_t err_len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
  if (fd < 0) {
    snprintf(err, err_len, "cannot create %s: %s%s", path, strerror(errno),
             errno == EEXIST ? " (not overwriting keys)" : "");
    return -1;
  }
  char line[CTK_KEY_Z85_LEN + 2];
  snprintf(line, sizeof line, "%s\n", z85);
  ssize_t w = write(fd, line, strlen(line));
  int rc = (w == (ssize_t)strlen(line) && fsync(fd) == 0) ? 0 : -1;
  if (close(fd) != 0) rc = -1;
  if (rc) snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

static int keygen_one(const char *dir, const char *name, char *err, size_t err_len) {
  ctk_key_z85 pub, secret;
  if (zmq_curve_keypair(pub, secret) != 0) {
    snprintf(err, err_len, "cannot make a CURVE key pair: %s", zmq_strerror(errno));
    return -1;
  }
  char path[CTK_PATH_LEN];
  if (key_path(path, sizeof path, dir, name, "key") ||
      write_key(path, secret, 0600, err, err_len) ||
      key_path(path, sizeof path, dir, name, "pub") || write_key(path, pub, 0644, err, err_len))
    return -1;
  return 0;
}

int ctk_keygen(const char *dir, int n_nodes, int n_clients, char *err, size_t err_len) {
  if (!zmq_has("curve")) {
    snprintf(err, err_len, "this libzmq was built without CURVE");
    return -1;
  }
  if (n_nodes < 1 || n_nodes > CTK_MAX_NODES || n_clients < 1 || n_clients > CTK_MAX_CLIENT_KEYS) {
    snprintf(err, err_len, "expected 1 to %d nodes and 1 to %d clients", CTK_MAX_NODES,
             CTK_MAX_CLIENT_KEYS);
    return -1;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  char name[CTK_KEY_NAME_LEN];
  for (int i = 0; i < n_nodes; i++) {
    snprintf(name, sizeof name, "node-%d", i);
    if (keygen_one(dir, name, err, err_len)) return -1;
  }
  for (int k = 0; k < n_clients; k++) {
    snprintf(name, sizeof name, "client-%d", k);
    if (keygen_one(dir, name, err, err_len)) return -1;
  }
  return 0;
}

/* Reads one Z85 key from a file: 40 characters that decode, then optional whitespace. */
static int read_key(const char *path, ctk_key_z85 out, char *err, size_t err_len) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  char buf[128];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = '\0';
  uint8_t raw[32];
  if (n != CTK_KEY_Z85_LEN || !zmq_z85_decode(raw, buf)) {
    snprintf(err, err_len, "%s: expected a CURVE key (40 characters of Z85, from `ctk keygen`)",
             path);
    return -1;
  }
  memcpy(out, buf, CTK_KEY_Z85_LEN + 1);
  return 0;
}

int ctk_keys_load(const char *dir, int n_nodes, const char *own_name, ctk_keys *keys, char *err,
                  size_t err_len) {
  memset(keys, 0, sizeof *keys);
  char path[CTK_PATH_LEN], name[CTK_KEY_NAME_LEN];
  snprintf(keys->own_name, sizeof keys->own_name, "%s", own_name);
  if (key_path(path, sizeof path, dir, own_name, "key") ||
      read_key(path, keys->own_secret, err, err_len))
    return -1;
  if (zmq_curve_public(keys->own_public, keys->own_secret) != 0) {
    snprintf(err, err_len, "%s: not a CURVE secret key", path);
    return -1;
  }
  keys->n_nodes = n_nodes;
  for (int i = 0; i < n_nodes; i++) {
    snprintf(name, sizeof name, "node-%d", i);
    if (key_path(path, sizeof path, dir, name, "pub") ||
        read_key(path, keys->node_public[i], err, err_len))
      return -1;
  }
  for (int k = 0; k < CTK_MAX_CLIENT_KEYS; k++) {
    snprintf(name, sizeof name, "client-%d", k);
    if (key_path(path, sizeof path, dir, name, "pub")) return -1;
    if (access(path, F_OK) != 0) break; /* clients are numbered from 0 without gaps */
    if (read_key(path, keys->client_public[k], err, err_len)) return -1;
    keys->n_clients = k + 1;
  }
  return 0;
}

int ctk_keys_secure_server(void *socket, const ctk_keys *keys) {
  int one = 1;
  if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) ||
      zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys->own_secret, CTK_KEY_Z85_LEN) ||
      zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, "ctk", 3))
    return -1;
  return 0;
}

int ctk_keys_secure_client(void *socket, const ctk_keys *keys, int server) {
  if (server < 0 || server >= keys->n_nodes) return -1;
  if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, keys->node_public[server], CTK_KEY_Z85_LEN) ||
      zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, keys->own_public, CTK_KEY_Z85_LEN) ||
      zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys->own_secret, CTK_KEY_Z85_LEN))
    return -1;
  return 0;
}

int ctk_user_node(const char *user_id) {
  if (!user_id) return -1;
  if (strncmp(user_id, "client-", 7) == 0) return CTK_USER_CLIENT;
  if (strncmp(user_id, "node-", 5) != 0) return -1;
  char *end;
  long id = strtol(user_id + 5, &end, 10);
  return *end == '\0' && end != user_id + 5 && id >= 0 && id < CTK_MAX_NODES ? (int)id : -1;
}

/* ---- the ZAP handler ---- */

struct ctk_zap {
  void *socket;
  ctk_keys keys;
  ctk_key_z85 refused[ZAP_MAX_REFUSED];
  int n_refused;
};

ctk_zap *ctk_zap_new(void *zmq_context, const ctk_keys *keys, char *err, size_t err_len) {
  ctk_zap *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  self->keys = *keys;
  self->socket = zmq_socket(zmq_context, ZMQ_REP);
  int zero = 0;
  if (!self->socket || zmq_setsockopt(self->socket, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_bind(self->socket, ZAP_ENDPOINT)) {
    snprintf(err, err_len, "cannot start the ZAP handler: %s", zmq_strerror(errno));
    ctk_zap_destroy(&self);
    return NULL;
  }
  return self;
}

void ctk_zap_destroy(ctk_zap **self_p) {
  ctk_zap *self = *self_p;
  if (!self) return;
  *self_p = NULL;
  if (self->socket) zmq_close(self->socket);
  memset(&self->keys, 0, sizeof self->keys); /* no secret left behind in freed memory */
  free(self);
}

void *ctk_zap_socket(const ctk_zap *self) { return self->socket; }

/* The name a listed public key belongs to, written into name; 0, or -1 when it is not listed. */
static int lookup(const ctk_zap *self, const char *key, char *name, size_t name_len) {
  for (int i = 0; i < self->keys.n_nodes; i++)
    if (strcmp(key, self->keys.node_public[i]) == 0) {
      snprintf(name, name_len, "node-%d", i);
      return 0;
    }
  for (int k = 0; k < self->keys.n_clients; k++)
    if (strcmp(key, self->keys.client_public[k]) == 0) {
      snprintf(name, name_len, "client-%d", k);
      return 0;
    }
  return -1;
}

static void send_part(void *socket, const void *data, size_t len, int more) {
  zmq_send(socket, data, len, more ? ZMQ_SNDMORE : 0);
}

int ctk_zap_handle(ctk_zap *self, ctk_zap_refusal *refusal) {
  /* version, request id, domain, address, routing id, mechanism, credentials */
  enum { PARTS = 7 };
  zmq_msg_t part[PARTS + 1];
  int n = 0, more = 1;
  while (more && n <= PARTS) {
    zmq_msg_init(&part[n]);
    if (zmq_msg_recv(&part[n], self->socket, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
      zmq_msg_close(&part[n]);
      if (n == 0) return 0;
      break;
    }
    more = zmq_msg_more(&part[n]);
    n++;
  }
  while (more) { /* more parts than a CURVE request has: read and drop them */
    zmq_msg_t extra;
    zmq_msg_init(&extra);
    if (zmq_msg_recv(&extra, self->socket, 0) < 0)
      more = 0;
    else
      more = zmq_msg_more(&extra);
    zmq_msg_close(&extra);
  }
  int well_formed = n == PARTS && zmq_msg_size(&part[0]) == 3 &&
                    memcmp(zmq_msg_data(&part[0]), "1.0", 3) == 0 && zmq_msg_size(&part[5]) == 5 &&
                    memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 && zmq_msg_size(&part[6]) == 32;
  char key[CTK_KEY_Z85_LEN + 1] = "", name[CTK_KEY_NAME_LEN] = "";
  int accepted = 0;
  if (well_formed) {
    zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
    accepted = lookup(self, key, name, sizeof name) == 0;
  }
  /* The reply: version, request id, status code, status text, user id, metadata. */
  send_part(self->socket, "1.0", 3, 1);
  if (n >= 2)
    send_part(self->socket, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), 1);
  else
    send_part(self->socket, "", 0, 1);
  send_part(self->socket, accepted ? "200" : "400", 3, 1);
  const char *text = accepted ? "OK" : "key not listed";
  send_part(self->socket, text, strlen(text), 1);
  send_part(self->socket, name, strlen(name), 1);
  send_part(self->socket, "", 0, 0);
  int rc = accepted ? 1 : well_formed ? -1 : 0;
  if (rc < 0) {
    memset(refusal, 0, sizeof *refusal);
    size_t alen = zmq_msg_size(&part[3]);
    if (alen >= sizeof refusal->address) alen = sizeof refusal->address - 1;
    memcpy(refusal->address, zmq_msg_data(&part[3]), alen);
    memcpy(refusal->key, key, sizeof key);
    refusal->first_for_this = 1;
    for (int i = 0; i < self->n_refused; i++)
      if (strcmp(self->refused[i], key) == 0) refusal->first_for_this = 0;
    if (refusal->first_for_this && self->n_refused < ZAP_MAX_REFUSED)
      memcpy(self->refused[self->n_refused++], key, sizeof key);
  }
  for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
  return rc;
}
