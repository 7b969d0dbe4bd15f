/* security.h: authenticated, encrypted clusters with ZeroMQ's CURVE mechanism (CurveZMQ).
 *
 * `ctk keygen DIR` writes one key pair per node and per client: DIR/node-<i>.key (the secret key,
 * Z85, readable by its owner only) and DIR/node-<i>.pub (the public key), and the same for
 * client-<k>. With `[cluster] security = "curve"` and `keys = DIR`, a node's ROUTER is a CURVE
 * server that accepts a connection only when the ZAP handler (RFC 27, run by the node's own event
 * loop) finds the caller's public key among DIR's node-*.pub and client-*.pub files; the handler
 * names the connection ("node-3", "client-0"), and the node checks every frame against that name
 * (a peer frame must come from the node it says it is from, a request from a client). Every
 * outgoing socket is a CURVE client that knows the public key of the node it connects to. */
#ifndef CTK_SECURITY_H
#define CTK_SECURITY_H

#include <stddef.h>

#include "config.h"

#define CTK_KEY_Z85_LEN     40 /* a 32-byte CURVE key in Z85 */
#define CTK_MAX_CLIENT_KEYS 64
#define CTK_KEY_NAME_LEN    32

typedef char ctk_key_z85[CTK_KEY_Z85_LEN + 1];

/* What one node or client needs: its own key pair, and the public keys of the others. */
typedef struct ctk_keys {
  char own_name[CTK_KEY_NAME_LEN]; /* "node-3" or "client-0" */
  ctk_key_z85 own_public, own_secret;
  int n_nodes;
  ctk_key_z85 node_public[CTK_MAX_NODES];
  int n_clients;
  ctk_key_z85 client_public[CTK_MAX_CLIENT_KEYS];
} ctk_keys;

/* Writes key pairs for nodes 0 .. n_nodes-1 and clients 0 .. n_clients-1 into dir (created if
 * missing). Refuses to overwrite existing keys. Returns 0, or -1 with a message in err. */
int ctk_keygen(const char *dir, int n_nodes, int n_clients, char *err, size_t err_len);

/* Loads own_name's key pair and the public keys of nodes 0 .. n_nodes-1 and of every client in
 * dir. Returns 0, or -1 with a message naming the file in err. */
int ctk_keys_load(const char *dir, int n_nodes, const char *own_name, ctk_keys *keys, char *err,
                  size_t err_len);

/* Makes a socket a CURVE server with the own key pair (before it binds). 0 or -1. */
int ctk_keys_secure_server(void *socket, const ctk_keys *keys);
/* Makes a socket a CURVE client of node `server` (before it connects). 0 or -1. */
int ctk_keys_secure_client(void *socket, const ctk_keys *keys, int server);

/* The node a connection's ZAP user id names ("node-3": 3), CTK_USER_CLIENT for a client, or -1
 * when it names nobody (no user id: an unauthenticated connection). */
#define CTK_USER_CLIENT (-2)
int ctk_user_node(const char *user_id);

/* The ZAP handler: a REP socket on inproc://zeromq.zap.01 of the node's context, which must
 * exist before the CURVE server socket accepts anyone. */
typedef struct ctk_zap ctk_zap;
ctk_zap *ctk_zap_new(void *zmq_context, const ctk_keys *keys, char *err, size_t err_len);
void ctk_zap_destroy(ctk_zap **self_p);
void *ctk_zap_socket(const ctk_zap *self);

/* A refused caller, for the log. */
typedef struct ctk_zap_refusal {
  char address[64];   /* the caller's IP address */
  ctk_key_z85 key;    /* its public key */
  int first_for_this; /* 1 the first time this key is refused (log it once) */
} ctk_zap_refusal;

/* Answers one waiting ZAP request, without blocking. Returns 1 when a caller was accepted, 0 when
 * no request was waiting (or it was not a well-formed ZAP request), -1 when a caller was refused
 * (see *refusal). */
int ctk_zap_handle(ctk_zap *self, ctk_zap_refusal *refusal);

#endif /* CTK_SECURITY_H */
