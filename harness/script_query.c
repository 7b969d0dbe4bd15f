/* script_query.c: the expect and print commands of a scenario script: what the cluster is now
 * (leader, terms, commit indexes, roles, the committed log, messages in flight, counters), checked
 * against what the script expects or printed. */
#include <inttypes.h>
#include <string.h>

#include "counts.h"
#include "script_internal.h"

/* ---- expectations ---- */

/* The entry at index as the lowest-numbered node that committed it holds it, into key and value
 * (each CTK_MAX_COMMAND_BYTES; key "" for a no-op): 1, or 0 when no node committed it. */
static int committed_somewhere(script *sc, uint64_t index, char *key, char *value) {
  for (int i = 0; i < sc->n; i++)
    if (ctk_sim_committed(sc->sim, i, index, key, CTK_MAX_COMMAND_BYTES, value,
                          CTK_MAX_COMMAND_BYTES) == 0)
      return 1;
  return 0;
}

int script_expect_cmd(script *sc, char **tok, int ntok) {
  sc->expectations++;
  int set[CTK_MAX_NODES];
  long v;
  const char *what = ntok >= 2 ? tok[1] : "";
  if (!strcmp(what, "leader") && ntok == 3) {
    int want = -1, got = ctk_sim_leader(sc->sim);
    if (strcmp(tok[2], "none") && script_parse_node(sc, tok[2], &want)) return -1;
    char a[16], b[16];
    script_leader_name(want, a, sizeof a);
    script_leader_name(got, b, sizeof b);
    if (want != got) script_expect_failed(sc, "expected leader %s, saw %s", a, b);
  } else if ((!strcmp(what, "term") || !strcmp(what, "committed")) && ntok >= 3) {
    if (script_parse_int(tok[2], 0, 1L << 40, &v))
      return script_fail(sc, "bad number '%s'", tok[2]);
    if (script_parse_at(sc, tok, ntok, 3, set)) return -1;
    int term = !strcmp(what, "term");
    for (int i = 0; i < sc->n; i++) {
      ctk_status st;
      if (!set[i]) continue;
      if (ctk_sim_status(sc->sim, i, &st)) {
        if (ntok > 3) script_expect_failed(sc, "expected %s %ld at n%d, which is down", what, v, i);
        continue;
      }
      uint64_t got = term ? st.term : st.commit_index;
      if (got != (uint64_t)v)
        script_expect_failed(sc, "expected %s %ld at n%d, saw %" PRIu64, what, v, i, got);
    }
  } else if (!strcmp(what, "role") && ntok >= 3) {
    if (script_parse_at(sc, tok, ntok, 3, set)) return -1;
    for (int i = 0; i < sc->n; i++) {
      ctk_status st;
      if (!set[i]) continue;
      const char *got = ctk_sim_status(sc->sim, i, &st) ? "down" : script_role_name(st.role);
      if (strcmp(got, tok[2])) script_expect_failed(sc, "expected n%d %s, saw %s", i, tok[2], got);
    }
  } else if (!strcmp(what, "entry") && !(sc->config.protocol->flags & CTK_PROTO_TOTAL_ORDER)) {
    return script_fail(sc,
                       "'expect entry' needs one log order; %s has none (each node executes "
                       "in an order of its own): use 'expect committed' or 'expect counter'",
                       sc->config.protocol->name);
  } else if (!strcmp(what, "entry") && ntok == 6 && !strcmp(tok[3], "put")) {
    if (script_parse_int(tok[2], 1, 1L << 40, &v)) return script_fail(sc, "bad index '%s'", tok[2]);
    char key[CTK_MAX_COMMAND_BYTES], value[CTK_MAX_COMMAND_BYTES];
    int found = committed_somewhere(sc, (uint64_t)v, key, value);
    if (!found)
      script_expect_failed(sc, "expected entry %ld put %s %s, but no node has committed it", v,
                           tok[4], tok[5]);
    else if (!key[0])
      script_expect_failed(sc, "expected entry %ld put %s %s, saw a no-op", v, tok[4], tok[5]);
    else if (strcmp(key, tok[4]) || strcmp(value, tok[5]))
      script_expect_failed(sc, "expected entry %ld put %s %s, saw put %s %s", v, tok[4], tok[5],
                           key, value);
  } else if (!strcmp(what, "entry") && ntok == 4 && !strcmp(tok[3], "no-op")) {
    if (script_parse_int(tok[2], 1, 1L << 40, &v)) return script_fail(sc, "bad index '%s'", tok[2]);
    char key[CTK_MAX_COMMAND_BYTES], value[CTK_MAX_COMMAND_BYTES];
    int found = committed_somewhere(sc, (uint64_t)v, key, value);
    if (!found)
      script_expect_failed(sc, "expected entry %ld no-op, but no node has committed it", v);
    else if (key[0])
      script_expect_failed(sc, "expected entry %ld no-op, saw put %s %s", v, key, value);
  } else if (!strcmp(what, "counter") && ntok == 4) {
    if (script_parse_int(tok[3], 0, 1L << 62, &v))
      return script_fail(sc, "bad number '%s'", tok[3]);
    ctk_counts counts;
    ctk_sim_counters(sc->sim, &counts);
    int found;
    uint64_t got = ctk_counts_get(&counts, tok[2], &found);
    if (!found && v != 0)
      script_expect_failed(sc, "expected counter %s %ld, but the protocol has no such counter",
                           tok[2], v);
    else if (got != (uint64_t)v)
      script_expect_failed(sc, "expected counter %s %ld, saw %" PRIu64, tok[2], v, got);
  } else if (!strcmp(what, "in-flight") && ntok == 3) {
    if (script_parse_int(tok[2], 0, 1L << 40, &v))
      return script_fail(sc, "bad number '%s'", tok[2]);
    size_t got = ctk_sim_in_flight(sc->sim);
    if (got != (size_t)v)
      script_expect_failed(sc, "expected %ld messages in flight, saw %zu", v, got);
  } else {
    return script_fail(sc,
                       "expected 'expect leader N|none', 'expect term T [at NODES]', 'expect "
                       "committed I [at NODES]', 'expect role ROLE at NODES', 'expect entry I "
                       "put KEY VALUE', 'expect counter NAME VALUE' or 'expect in-flight N'");
  }
  return 0;
}

/* ---- print ---- */

int script_print_cmd(script *sc, char **tok, int ntok) {
  const char *what = ntok == 2 ? tok[1] : "";
  if (!strcmp(what, "status")) {
    fprintf(sc->out, "  time %.3f s, %zu message(s) in flight\n",
            (double)ctk_sim_now(sc->sim) / 1e6, ctk_sim_in_flight(sc->sim));
    for (int i = 0; i < sc->n; i++) {
      ctk_status st;
      if (ctk_sim_status(sc->sim, i, &st)) {
        fprintf(sc->out, "  n%d: down\n", i);
        continue;
      }
      char l[16];
      script_leader_name(st.leader_id, l, sizeof l);
      fprintf(sc->out,
              "  n%d: %-9s term %" PRIu64 ", leader %s, commit %" PRIu64 ", log %" PRIu64 "\n", i,
              script_role_name(st.role), st.term, l, st.commit_index, st.log_length);
    }
  } else if (!strcmp(what, "log") && !(sc->config.protocol->flags & CTK_PROTO_TOTAL_ORDER)) {
    fprintf(sc->out,
            "  (no single log: each node executes in an order of its own; see print "
            "status and print counters)\n");
  } else if (!strcmp(what, "log")) {
    char key[CTK_MAX_COMMAND_BYTES], value[CTK_MAX_COMMAND_BYTES];
    for (uint64_t index = 1;; index++) {
      char at[128] = "";
      size_t off = 0;
      int any = 0;
      for (int i = 0; i < sc->n; i++) {
        if (ctk_sim_committed(sc->sim, i, index, key, sizeof key, value, sizeof value)) continue;
        any = 1;
        off += (size_t)snprintf(at + off, sizeof at - off, " n%d", i);
      }
      if (!any) {
        if (index == 1) fprintf(sc->out, "  (nothing committed)\n");
        break;
      }
      for (int i = 0; i < sc->n; i++) /* the command, from a node that committed it */
        if (!ctk_sim_committed(sc->sim, i, index, key, sizeof key, value, sizeof value)) break;
      if (key[0])
        fprintf(sc->out, "  %" PRIu64 ": put %s %s  (committed at%s)\n", index, key, value, at);
      else
        fprintf(sc->out, "  %" PRIu64 ": no-op  (committed at%s)\n", index, at);
    }
  } else if (!strcmp(what, "flight")) {
    size_t n = ctk_sim_in_flight(sc->sim);
    if (!n) fprintf(sc->out, "  (nothing in flight)\n");
    for (size_t k = 0; k < n; k++) {
      int f, t;
      const uint8_t *data;
      uint32_t len;
      char desc[256];
      ctk_sim_flight_at(sc->sim, k, &f, &t, &data, &len);
      script_describe(sc, data, len, desc, sizeof desc);
      fprintf(sc->out, "  n%d -> n%d %s\n", f, t, desc);
    }
  } else if (!strcmp(what, "counters")) {
    ctk_counts counts;
    ctk_sim_counters(sc->sim, &counts);
    if (!counts.n) fprintf(sc->out, "  (the protocol keeps no counters)\n");
    for (size_t k = 0; k < counts.n; k++)
      fprintf(sc->out, "  %s %" PRIu64 "\n", counts.c[k].name, counts.c[k].value);
  } else {
    return script_fail(sc,
                       "expected 'print status', 'print log', 'print flight' or 'print counters'");
  }
  return 0;
}
