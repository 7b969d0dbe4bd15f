/* script.c: the interpreter of scripted scenarios (script.h): reads one command per line, drives
 * a simulator with a manual network, and writes what happened, the way etcd-io/raft's
 * interaction tests read like a lab notebook. Words are read by script_parse.c; expect and print
 * are answered by script_query.c. */
#include "script.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "script_internal.h"

#define SCRIPT_MAX_TOKENS       40
#define SCRIPT_MAX_ROUNDS       100000 /* delivery rounds of one run-until or run */
#define SCRIPT_STABILIZE_ROUNDS 1000
#define SCRIPT_WITHIN_US        10000000ull
#define SCRIPT_TOML_MAX         4096

static node_snap snap_of(const script *sc, int i) {
  node_snap s = {0};
  s.alive = ctk_sim_status(sc->sim, i, &s.st) == 0;
  return s;
}

/* One line per node whose role, term, leader, commit index or log length changed since the last
 * call ("n2: follower -> candidate, term 1 -> 2"). */
static void print_changes(script *sc) {
  for (int i = 0; i < sc->n; i++) {
    node_snap now = snap_of(sc, i), *was = &sc->last[i];
    if (!now.alive) {
      if (was->alive) fprintf(sc->out, "  n%d: down\n", i);
      *was = now;
      continue;
    }
    char a[16], b[16], line[512];
    size_t off = 0;
#define ADD(...) off += (size_t)snprintf(line + off, sizeof line - off, __VA_ARGS__)
    if (!was->alive) ADD(", up");
    if (!was->alive || now.st.role != was->st.role) {
      if (was->alive)
        ADD(", %s -> %s", script_role_name(was->st.role), script_role_name(now.st.role));
      else
        ADD(", %s", script_role_name(now.st.role));
    }
    if (!was->alive)
      ADD(", term %" PRIu64, now.st.term);
    else if (now.st.term != was->st.term)
      ADD(", term %" PRIu64 " -> %" PRIu64, was->st.term, now.st.term);
    if (!was->alive && now.st.leader_id >= 0) {
      script_leader_name(now.st.leader_id, b, sizeof b);
      ADD(", leader %s", b);
    } else if (was->alive && now.st.leader_id != was->st.leader_id) {
      script_leader_name(was->st.leader_id, a, sizeof a);
      script_leader_name(now.st.leader_id, b, sizeof b);
      ADD(", leader %s -> %s", a, b);
    }
    if (now.st.commit_index != (was->alive ? was->st.commit_index : 0))
      ADD(", commit %" PRIu64 " -> %" PRIu64, was->alive ? was->st.commit_index : 0,
          now.st.commit_index);
    if (now.st.log_length != (was->alive ? was->st.log_length : 0))
      ADD(", log %" PRIu64 " -> %" PRIu64, was->alive ? was->st.log_length : 0, now.st.log_length);
#undef ADD
    if (off && off < sizeof line) fprintf(sc->out, "  n%d: %s\n", i, line + 2);
    *was = now;
  }
}

/* Processes what is due now; reports a violation (once) and returns -1 after one. */
static int settle(script *sc) {
  if (ctk_sim_run_until(sc->sim, ctk_sim_now(sc->sim)) == 0) return 0;
  if (!sc->violation_reported) {
    sc->violation_reported = 1;
    sc->failures++;
    fprintf(sc->out, "  VIOLATION line %d: %s\n", sc->line, ctk_sim_violation(sc->sim));
  }
  return -1;
}

/* ---- start ---- */

/* The loader's message without its "NAME:LINE:COLUMN: " prefix, which points into the TOML text
 * built from the start line rather than into the script. */
static const char *strip_position(const char *msg, const char *name) {
  size_t n = strlen(name);
  if (strncmp(msg, name, n) || msg[n] != ':') return msg;
  const char *p = msg + n;
  while (*p == ':' || (*p >= '0' && *p <= '9')) p++;
  return *p == ' ' ? p + 1 : msg;
}

static int start_cluster(script *sc, char **tok, int ntok) {
  if (sc->sim) { /* a new cluster: the script compares two settings side by side */
    ctk_sim_destroy(&sc->sim);
    ctk_config_free(&sc->config);
    sc->have_config = 0;
    sc->violation_reported = 0;
    memset(sc->last, 0, sizeof sc->last);
  }
  if (ntok < 2)
    return script_fail(sc, "expected 'start N PROTOCOL [OPTION=VALUE ...]' or 'start FILE.toml'");
  char cerr[CTK_ERR_LEN];
  long n, seed = 1;
  int k;
  if (script_parse_int(tok[1], 1, CTK_MAX_NODES, &n) == 0) {
    if (ntok < 3) return script_fail(sc, "expected a protocol after 'start %ld'", n);
    const ctk_protocol_def *def = ctk_protocol_find(tok[2]);
    if (!def) return script_fail(sc, "unknown protocol '%s' (ctk protocols lists them)", tok[2]);
    char toml[SCRIPT_TOML_MAX + 256], opts[SCRIPT_TOML_MAX] = "";
    size_t off = 0;
    for (k = 3; k < ntok; k++) {
      const char *eq = strchr(tok[k], '=');
      if (!eq || eq == tok[k]) return script_fail(sc, "expected OPTION=VALUE, got '%s'", tok[k]);
      if (!strncmp(tok[k], "seed=", 5)) {
        if (script_parse_int(eq + 1, 0, 1L << 40, &seed))
          return script_fail(sc, "bad seed '%s'", eq + 1);
        continue;
      }
      off += (size_t)snprintf(opts + off, sizeof opts - off, "%.*s = %s\n", (int)(eq - tok[k]),
                              tok[k], eq + 1);
      if (off >= sizeof opts) return script_fail(sc, "too many options");
    }
    snprintf(toml, sizeof toml, "protocol = \"%s\"\nseed = %ld\n[cluster]\nnodes = %ld\n[%s]\n%s",
             def->name, seed, n, def->name, opts);
    if (ctk_config_load_string(toml, "(start)", &sc->config, cerr, sizeof cerr))
      return script_fail(sc, "%s", strip_position(cerr, "(start)"));
  } else {
    char file[CTK_PATH_LEN];
    const char *slash = strrchr(sc->path, '/');
    if (tok[1][0] == '/' || !slash)
      snprintf(file, sizeof file, "%s", tok[1]);
    else
      snprintf(file, sizeof file, "%.*s/%s", (int)(slash - sc->path), sc->path, tok[1]);
    if (ctk_config_load(file, &sc->config, cerr, sizeof cerr)) return script_fail(sc, "%s", cerr);
    for (k = 2; k < ntok; k++) {
      if (strncmp(tok[k], "seed=", 5) || script_parse_int(tok[k] + 5, 0, 1L << 40, &seed))
        return script_fail(sc, "expected seed=N after the file, got '%s'", tok[k]);
      sc->config.seed = (uint64_t)seed;
    }
  }
  sc->have_config = 1;
  /* Steps and syncs take no time: the clock moves only when the script says so. */
  ctk_sim_config *s = &sc->config.sim;
  s->step_us = s->disk_sync_us = 0;
  s->loss = s->duplicate = s->reorder = 0;
  s->random_faults = 0;
  s->chase_leader = 0;
  ctk_sim_options options = {.no_clients = 1, .skip_check = 1, .manual_network = 1};
  sc->sim = ctk_sim_new(&sc->config, &options, cerr, sizeof cerr);
  if (!sc->sim) return script_fail(sc, "%s", cerr);
  sc->n = ctk_sim_n_nodes(sc->sim);
  fprintf(sc->out, "  %d nodes of %s, seed %" PRIu64 "\n", sc->n, sc->config.protocol_name,
          sc->config.seed);
  if (settle(sc)) return 0;
  print_changes(sc);
  return 0;
}

/* ---- the network ---- */

void script_describe(script *sc, const uint8_t *data, uint32_t len, char *buf, size_t buf_len) {
  if (sc->config.protocol->describe(data, len, buf, buf_len) < 0)
    snprintf(buf, buf_len, "(malformed, %u bytes)", len);
}

/* Delivers (or drops) the messages in flight now that match from -> to; what they cause goes in
 * flight after them. Returns how many matched. */
static size_t deliver(script *sc, int from, int to, int drop, int quiet) {
  size_t matching = 0, n = ctk_sim_in_flight(sc->sim);
  for (size_t k = 0; k < n; k++) {
    int f, t;
    const uint8_t *data;
    uint32_t len;
    ctk_sim_flight_at(sc->sim, k, &f, &t, &data, &len);
    if ((from < 0 || f == from) && (to < 0 || t == to)) matching++;
  }
  size_t k = 0;
  for (size_t done = 0; done < matching;) {
    int f, t;
    const uint8_t *data;
    uint32_t len;
    ctk_sim_flight_at(sc->sim, k, &f, &t, &data, &len);
    if (!((from < 0 || f == from) && (to < 0 || t == to))) {
      k++;
      continue;
    }
    char desc[256];
    if (!quiet) script_describe(sc, data, len, desc, sizeof desc);
    int rc = ctk_sim_flight_take(sc->sim, k, drop);
    if (!quiet)
      fprintf(sc->out, "  %sn%d -> n%d %s%s\n", drop ? "dropped " : "", f, t, desc,
              rc != 1                     ? ""
              : ctk_sim_alive(sc->sim, t) ? "  (lost: the link is cut)"
                                          : "  (lost: the receiver is down)");
    done++;
  }
  return matching;
}

/* ---- conditions ---- */

typedef struct condition {
  int kind; /* 0 leader, 1 committed */
  int node; /* leader: the node, or -1 for any */
  uint64_t index;
  int set[CTK_MAX_NODES];
} condition;

static int holds(script *sc, const condition *c) {
  if (c->kind == 0) {
    int leader = ctk_sim_leader(sc->sim);
    return c->node < 0 ? leader >= 0 : leader == c->node;
  }
  for (int i = 0; i < sc->n; i++) {
    ctk_status st;
    if (!c->set[i]) continue;
    if (ctk_sim_status(sc->sim, i, &st) || st.commit_index < c->index) return 0;
  }
  return 1;
}

/* One move of a cluster left to itself: the messages in flight delivered at once, or else the
 * simulation run to its next event. 1 when that event is past deadline, or an invariant broke. */
static int run_one_move(script *sc, uint64_t deadline) {
  if (ctk_sim_in_flight(sc->sim)) {
    deliver(sc, -1, -1, 0, 1);
    return 0;
  }
  uint64_t next = ctk_sim_next_event_us(sc->sim);
  return next > deadline || ctk_sim_run_until(sc->sim, next);
}

/* run-until leader [N] | committed I [at NODES]  [within DURATION] */
static int run_until(script *sc, char **tok, int ntok) {
  uint64_t within = SCRIPT_WITHIN_US;
  if (ntok >= 3 && !strcmp(tok[ntok - 2], "within")) {
    if (script_parse_duration(sc, tok[ntok - 1], &within)) return -1;
    ntok -= 2;
  }
  condition c = {.node = -1};
  long v;
  if (ntok >= 2 && !strcmp(tok[1], "leader") && ntok <= 3) {
    if (ntok == 3 && script_parse_node(sc, tok[2], &c.node)) return -1;
  } else if (ntok >= 3 && !strcmp(tok[1], "committed")) {
    c.kind = 1;
    if (script_parse_int(tok[2], 0, 1L << 40, &v)) return script_fail(sc, "bad index '%s'", tok[2]);
    c.index = (uint64_t)v;
    if (script_parse_at(sc, tok, ntok, 3, c.set)) return -1;
  } else {
    return script_fail(sc,
                       "expected 'run-until leader [N]' or 'run-until committed I [at NODES]'"
                       " with an optional 'within DURATION'");
  }
  uint64_t start = ctk_sim_now(sc->sim), deadline = start + within;
  int reached = 0;
  for (int round = 0; round < SCRIPT_MAX_ROUNDS; round++) {
    if ((reached = holds(sc, &c))) break;
    if (run_one_move(sc, deadline) || settle(sc)) break;
  }
  uint64_t now = ctk_sim_now(sc->sim);
  if (reached)
    fprintf(sc->out, "  reached after %.1f ms\n", (double)(now - start) / 1e3);
  else if (!ctk_sim_violation(sc->sim))
    script_expect_failed(sc, "not reached within %.1f ms", (double)within / 1e3);
  print_changes(sc);
  return 0;
}

/* run DURATION: the cluster runs on its own for that long, every message delivered at once. */
static int run_for(script *sc, uint64_t us) {
  uint64_t deadline = ctk_sim_now(sc->sim) + us;
  for (int round = 0; round < SCRIPT_MAX_ROUNDS; round++) {
    if (run_one_move(sc, deadline)) break;
    if (settle(sc)) return 0;
  }
  if (ctk_sim_run_until(sc->sim, deadline)) return settle(sc), 0;
  print_changes(sc);
  return 0;
}

/* ---- one command ---- */

static int partition(script *sc, char **tok, int ntok) {
  /* "partition 0,1 | 2,3,4": groups separated by |, every node in exactly one. */
  int group[CTK_MAX_NODES], g = 0, seen = 0;
  for (int i = 0; i < CTK_MAX_NODES; i++) group[i] = -1;
  for (int k = 1; k < ntok; k++) {
    if (!strcmp(tok[k], "|")) {
      g++;
      continue;
    }
    int set[CTK_MAX_NODES];
    if (script_parse_nodes(sc, tok[k], set)) return -1;
    for (int i = 0; i < sc->n; i++) {
      if (!set[i]) continue;
      if (group[i] >= 0) return script_fail(sc, "n%d is in two groups", i);
      group[i] = g;
      seen++;
    }
  }
  if (g == 0)
    return script_fail(sc, "expected groups separated by |, as in 'partition 0,1 | 2,3,4'");
  for (int i = 0; i < sc->n; i++)
    if (group[i] < 0) return script_fail(sc, "n%d is in no group", i);
  for (int a = 0; a < sc->n; a++)
    for (int b = 0; b < sc->n; b++)
      if (group[a] != group[b]) ctk_sim_block(sc->sim, a, b, 1);
  (void)seen;
  return 0;
}

static int command(script *sc, char **tok, int ntok) {
  const char *cmd = tok[0];
  if (!strcmp(cmd, "start")) return start_cluster(sc, tok, ntok);
  if (!sc->sim) return script_fail(sc, "expected 'start' before '%s'", cmd);
  if (sc->violation_reported) return 0; /* the simulator stopped at the violation */
  int node = 0, from = -1, to = -1;
  if (!strcmp(cmd, "tick") && ntok == 2) {
    uint64_t us;
    if (script_parse_duration(sc, tok[1], &us)) return -1;
    if (ctk_sim_run_until(sc->sim, ctk_sim_now(sc->sim) + us)) return settle(sc), 0;
  } else if ((!strcmp(cmd, "deliver") || !strcmp(cmd, "drop")) && ntok <= 2) {
    if (ntok == 2 && script_parse_link(sc, tok[1], &from, &to)) return -1;
    if (!deliver(sc, from, to, cmd[1] == 'r', 0))
      fprintf(sc->out, "  (no such message in flight)\n");
  } else if (!strcmp(cmd, "stabilize") && ntok == 1) {
    int round = 0;
    while (ctk_sim_in_flight(sc->sim) && round++ < SCRIPT_STABILIZE_ROUNDS) {
      deliver(sc, -1, -1, 0, 0);
      if (settle(sc)) return 0;
    }
    if (ctk_sim_in_flight(sc->sim))
      script_expect_failed(sc, "still %zu message(s) in flight after %d rounds of delivery",
                           ctk_sim_in_flight(sc->sim), SCRIPT_STABILIZE_ROUNDS);
  } else if (!strcmp(cmd, "run") && ntok == 2) {
    uint64_t us;
    if (script_parse_duration(sc, tok[1], &us)) return -1;
    return run_for(sc, us);
  } else if (!strcmp(cmd, "run-until")) {
    return run_until(sc, tok, ntok);
  } else if ((!strcmp(cmd, "crash") || !strcmp(cmd, "restart") || !strcmp(cmd, "isolate")) &&
             ntok == 2) {
    if (script_parse_node(sc, tok[1], &node)) return -1;
    if (cmd[0] == 'c')
      ctk_sim_crash(sc->sim, node);
    else if (cmd[0] == 'r')
      ctk_sim_restart(sc->sim, node);
    else
      ctk_sim_isolate(sc->sim, node, 1);
  } else if ((!strcmp(cmd, "freeze") || !strcmp(cmd, "thaw")) && ntok == 2) {
    int set[CTK_MAX_NODES];
    if (script_parse_nodes(sc, tok[1], set)) return -1;
    for (int i = 0; i < sc->n; i++)
      if (set[i]) ctk_sim_freeze_timer(sc->sim, i, cmd[0] == 'f');
  } else if (!strcmp(cmd, "heal") && ntok == 1) {
    ctk_sim_heal(sc->sim);
  } else if (!strcmp(cmd, "partition")) {
    if (partition(sc, tok, ntok)) return -1;
  } else if (!strcmp(cmd, "submit") && ntok == 5 && !strcmp(tok[2], "put")) {
    if (script_parse_node(sc, tok[1], &node)) return -1;
    int rc = ctk_sim_submit_put(sc->sim, node, tok[3], tok[4]);
    ctk_status st;
    if (rc == CTK_OK)
      fprintf(sc->out, "  accepted\n");
    else if (rc == CTK_ERR_REJECTED && ctk_sim_status(sc->sim, node, &st) == 0 && st.leader_id >= 0)
      fprintf(sc->out, "  rejected (n%d names n%d as the leader)\n", node, st.leader_id);
    else
      fprintf(sc->out, "  %s\n",
              rc == CTK_ERR_REJECTED ? "rejected"
              : rc == CTK_ERR_BUSY   ? "busy"
                                     : "refused (the node is down)");
  } else if (!strcmp(cmd, "admin") && ntok >= 3) {
    if (script_parse_node(sc, tok[1], &node)) return -1;
    char req[256] = "";
    for (int k = 2; k < ntok; k++) { /* the request's words, as one line */
      size_t used = strlen(req);
      snprintf(req + used, sizeof req - used, "%s%s", k > 2 ? " " : "", tok[k]);
    }
    int rc = ctk_sim_admin(sc->sim, node, req);
    fprintf(sc->out, "  %s\n",
            rc == CTK_OK             ? "accepted"
            : rc == CTK_ERR_REJECTED ? "rejected"
            : rc == CTK_ERR_BUSY     ? "busy"
                                     : "refused (invalid, unsupported, or the node is down)");
  } else if (!strcmp(cmd, "expect")) {
    return script_expect_cmd(sc, tok, ntok);
  } else if (!strcmp(cmd, "print")) {
    return script_print_cmd(sc, tok, ntok);
  } else {
    return script_fail(sc,
                       "unknown command or wrong arguments: '%s' (see README.md, \"Scripted "
                       "scenarios\")",
                       cmd);
  }
  if (settle(sc)) return 0;
  print_changes(sc);
  return 0;
}

int ctk_script_run(const char *path, const char *text, FILE *out, char *err, size_t err_len) {
  script *sc = calloc(1, sizeof *sc);
  if (!sc) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  sc->path = path;
  sc->out = out;
  sc->err = err;
  sc->err_len = err_len;
  int rc = 0;
  for (const char *p = text; *p && rc == 0;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    sc->line++;
    char buf[1024];
    if (len >= sizeof buf) {
      rc = script_fail(sc, "line longer than %zu characters", sizeof buf - 1);
      break;
    }
    memcpy(buf, p, len);
    buf[len] = 0;
    p += len + (eol ? 1 : 0);
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r'))
      buf[--len] = 0;
    const char *s = buf + strspn(buf, " \t");
    if (!*s || *s == '#') {
      fprintf(out, "%s\n", s); /* comments and blank lines are part of the notebook */
      continue;
    }
    fprintf(out, "> %s\n", s);
    char *tok[SCRIPT_MAX_TOKENS];
    int ntok = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf + (s - buf), " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
      if (*t == '#') break; /* a comment after the command */
      if (ntok == SCRIPT_MAX_TOKENS) {
        rc = script_fail(sc, "more than %d words", SCRIPT_MAX_TOKENS);
        break;
      }
      tok[ntok++] = t;
    }
    if (rc == 0 && ntok) rc = command(sc, tok, ntok);
  }
  if (rc == 0 && !sc->sim) {
    sc->line = 0;
    rc = script_fail(sc, "the script starts no cluster (expected a 'start' line)");
  }
  if (rc == 0) {
    if (sc->failures)
      fprintf(out, "FAILED: %d failure(s), %d expectation(s)\n", sc->failures, sc->expectations);
    else
      fprintf(out, "ok: %d expectation(s) held\n", sc->expectations);
    rc = sc->failures ? 1 : 0;
  }
  ctk_sim_destroy(&sc->sim);
  if (sc->have_config) ctk_config_free(&sc->config);
  free(sc);
  return rc;
}
