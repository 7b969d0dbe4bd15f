/* script_internal.h: what the files of the script interpreter share (script.c runs a script,
 * script_parse.c reads its words and reports errors, script_query.c answers expect and print). */
#ifndef CTK_SCRIPT_INTERNAL_H
#define CTK_SCRIPT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "sim.h"

typedef struct node_snap {
  int alive;
  ctk_status st;
} node_snap;

typedef struct script {
  const char *path;
  int line;
  FILE *out;
  char *err;
  size_t err_len;
  ctk_config config;
  int have_config;
  ctk_simulator *sim;
  int n;
  node_snap last[CTK_MAX_NODES];
  int expectations, failures;
  int violation_reported;
} script;

/* script_parse.c */
/* An error in the script: "PATH:LINE: " and the message into sc->err. Returns -1. */
int script_fail(script *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed expectation: reported in the output with its line; the script goes on. */
void script_expect_failed(script *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *script_role_name(ctk_role role);
void script_leader_name(int id, char *buf, size_t len); /* "n3" or "none" */
/* Each returns 0, or -1 with the error reported through script_fail (script_parse_int: -1 only). */
int script_parse_int(const char *s, long lo, long hi, long *out);
int script_parse_node(script *sc, const char *s, int *node);
int script_parse_nodes(script *sc, const char *s, int *set); /* set[CTK_MAX_NODES] */
int script_parse_duration(script *sc, const char *s, uint64_t *us);
int script_parse_link(script *sc, const char *s, int *from, int *to); /* -1: any node */
/* Optional trailing "at NODES" from token k; all nodes when absent. */
int script_parse_at(script *sc, char **tok, int ntok, int k, int *set);

/* script.c */
/* The protocol's description of a message. */
void script_describe(script *sc, const uint8_t *data, uint32_t len, char *buf, size_t buf_len);

/* script_query.c: the expect and print commands. Return 0, or -1 on an error in the script. */
int script_expect_cmd(script *sc, char **tok, int ntok);
int script_print_cmd(script *sc, char **tok, int ntok);

#endif /* CTK_SCRIPT_INTERNAL_H */
