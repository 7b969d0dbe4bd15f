/* cluster.c: starting, watching, faulting and stopping the node processes of a local cluster (see
 * cluster.h). Each node gets a control socket on a unique ipc:// path under /tmp; the runner keeps
 * one DEALER per node connected to it. */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"

#define CONTROL_PATH_LEN 108

typedef struct cluster_node {
  pid_t pid; /* 0: not running */
  char dir[CTK_PATH_LEN];
  char log[CTK_PATH_LEN];
  char control_path[CONTROL_PATH_LEN]; /* the ipc socket file */
  char control_endpoint[CONTROL_PATH_LEN + 8];
  void *control;  /* DEALER */
  char netns[64]; /* the network namespace it runs in (under /run/netns), "" for the runner's */
} cluster_node;

struct ctk_local_cluster {
  char binary[CTK_PATH_LEN];
  char config_path[CTK_PATH_LEN];
  int n;
  cluster_node nodes[CTK_MAX_NODES];
  void *zmq;
  wire_writer frame;
};

/* Becomes `ctk node`, under a profiler when CTK_NODE_TOOL names one (words split at spaces, e.g.
 * "valgrind --tool=callgrind"), for the node CTK_NODE_TOOL_ID only when that is set. Returns only
 * if the exec failed. */
static void exec_node(const char **node_argv, int i) {
  const char *tool = getenv("CTK_NODE_TOOL"), *only = getenv("CTK_NODE_TOOL_ID");
  if (tool && *tool && (!only || !*only || atoi(only) == i)) {
    char words[512];
    snprintf(words, sizeof words, "%s", tool);
    const char *argv[32];
    int n = 0;
    for (char *w = strtok(words, " "); w && n < 20; w = strtok(NULL, " ")) argv[n++] = w;
    for (int k = 0; node_argv[k]; k++) argv[n++] = node_argv[k];
    argv[n] = NULL;
    execvp(argv[0], (char *const *)argv);
    return;
  }
  execv(node_argv[0], (char *const *)node_argv);
}

static int spawn(ctk_local_cluster *self, int i, char *err, size_t err_len) {
  cluster_node *node = &self->nodes[i];
  char id[16];
  snprintf(id, sizeof id, "%d", i);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, err_len, "cannot start node %d: fork: %s", i, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    /* The child: die with the runner, write to the node's log, become `ctk node`. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(node->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (node->netns[0]) {
      char path[96];
      snprintf(path, sizeof path, "/run/netns/%s", node->netns);
      int ns = open(path, O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        dprintf(STDERR_FILENO, "cannot enter network namespace %s: %s\n", path, strerror(errno));
        _exit(127);
      }
    }
    const char *node_argv[] = {
        self->binary, "node",      self->config_path,      "--id", id, "--dir",
        node->dir,    "--control", node->control_endpoint, NULL};
    exec_node(node_argv, i);
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", self->binary, strerror(errno));
    _exit(127);
  }
  node->pid = pid;
  return 0;
}

static void *control_socket(ctk_local_cluster *self, const char *endpoint) {
  void *s = zmq_socket(self->zmq, ZMQ_DEALER);
  if (!s) return NULL;
  int zero = 0, one = 1, ivl = 20;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
  if (zmq_connect(s, endpoint)) {
    zmq_close(s);
    return NULL;
  }
  return s;
}

/* Removes control socket files left by runners that were killed before they could clean up (a
 * SIGKILLed runner takes its nodes with it, but their socket files stay). */
static void remove_stale_control_files(void) {
  glob_t g;
  if (glob("/tmp/ctk-*-*-n*.ipc", 0, NULL, &g) != 0) return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    int pid = atoi(g.gl_pathv[i] + strlen("/tmp/ctk-"));
    if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH) unlink(g.gl_pathv[i]);
  }
  globfree(&g);
}

ctk_local_cluster *ctk_local_cluster_start(const char *binary, const char *config_path,
                                           const ctk_config *config, const char *run_dir, char *err,
                                           size_t err_len) {
  return ctk_local_cluster_start_in(binary, config_path, config, run_dir, NULL, err, err_len);
}

ctk_local_cluster *ctk_local_cluster_start_in(const char *binary, const char *config_path,
                                              const ctk_config *config, const char *run_dir,
                                              const char *const *netns, char *err, size_t err_len) {
  static int instance;
  ctk_local_cluster *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  snprintf(self->binary, sizeof self->binary, "%s", binary);
  snprintf(self->config_path, sizeof self->config_path, "%s", config_path);
  self->n = config->cluster.nodes;
  wire_writer_init(&self->frame);
  self->zmq = zmq_ctx_new();
  if (!self->zmq) {
    snprintf(err, err_len, "cannot create a ZeroMQ context");
    free(self);
    return NULL;
  }
  instance++;
  remove_stale_control_files();
  for (int i = 0; i < self->n; i++) {
    cluster_node *node = &self->nodes[i];
    snprintf(node->dir, sizeof node->dir, "%s/node-%d", run_dir, i);
    snprintf(node->log, sizeof node->log, "%s/node-%d.log", run_dir, i);
    if (netns) snprintf(node->netns, sizeof node->netns, "%s", netns[i]);
    char path[CONTROL_PATH_LEN];
    snprintf(path, sizeof path, "/tmp/ctk-%d-%d-n%d.ipc", (int)getpid(), instance, i);
    memcpy(node->control_path, path, sizeof path);
    snprintf(node->control_endpoint, sizeof node->control_endpoint, "ipc://%s", path);
    unlink(node->control_path);
    node->control = control_socket(self, node->control_endpoint);
    if (!node->control) {
      snprintf(err, err_len, "cannot connect to %s: %s", node->control_endpoint,
               zmq_strerror(errno));
      ctk_local_cluster_stop(&self, 0);
      return NULL;
    }
  }
  for (int i = 0; i < self->n; i++) {
    if (spawn(self, i, err, err_len)) {
      ctk_local_cluster_stop(&self, 0);
      return NULL;
    }
  }
  return self;
}

/* Sends one control frame to node i and waits for the reply of the expected kind; replies to
 * earlier requests that timed out are skipped. */
static int control_call(ctk_local_cluster *self, int i, hw_kind reply_kind, uint8_t *reply,
                        size_t *reply_len, int timeout_ms) {
  cluster_node *node = &self->nodes[i];
  if (!node->pid || self->frame.failed) return -1;
  if (zmq_send(node->control, self->frame.data, self->frame.len, ZMQ_DONTWAIT) < 0) return -1;
  uint64_t deadline = (ctk_clock_us() / 1000u) + (uint64_t)timeout_ms;
  for (;;) {
    uint64_t now = (ctk_clock_us() / 1000u);
    if (now >= deadline) return -1;
    zmq_pollitem_t item = {node->control, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, (long)(deadline - now)) <= 0) continue;
    int n = zmq_recv(node->control, reply, *reply_len, ZMQ_DONTWAIT);
    if (n < 0) continue;
    if ((size_t)n <= *reply_len && hw_frame_kind(reply, (size_t)n) == (int)reply_kind) {
      *reply_len = (size_t)n;
      return 0;
    }
  }
}

int ctk_local_cluster_status(ctk_local_cluster *self, int i, hw_status *status, int timeout_ms) {
  uint8_t reply[512];
  size_t len = sizeof reply;
  wire_writer_reset(&self->frame);
  hw_put_status_request(&self->frame);
  if (control_call(self, i, HW_STATUS_REPLY, reply, &len, timeout_ms)) return -1;
  return hw_get_status(reply, len, status);
}

int ctk_local_cluster_set_faults(ctk_local_cluster *self, int i, const hw_faults *faults,
                                 int timeout_ms) {
  uint8_t reply[16];
  size_t len = sizeof reply;
  wire_writer_reset(&self->frame);
  hw_put_faults(&self->frame, faults);
  return control_call(self, i, HW_FAULTS_ACK, reply, &len, timeout_ms);
}

int ctk_local_cluster_wait_ready(ctk_local_cluster *self, int timeout_ms, char *err,
                                 size_t err_len) {
  uint64_t deadline = (ctk_clock_us() / 1000u) + (uint64_t)timeout_ms;
  for (int i = 0; i < self->n; i++) {
    hw_status status;
    while (self->nodes[i].pid && ctk_local_cluster_status(self, i, &status, 100)) {
      if (ctk_local_cluster_check_exits(self, err, err_len) >= 0) return -1;
      if ((ctk_clock_us() / 1000u) >= deadline) {
        snprintf(err, err_len, "node %d did not come up within %d ms (see %s)", i, timeout_ms,
                 self->nodes[i].log);
        return -1;
      }
    }
  }
  return 0;
}

void ctk_local_cluster_kill(ctk_local_cluster *self, int i) {
  cluster_node *node = &self->nodes[i];
  if (!node->pid) return;
  kill(node->pid, SIGKILL);
  while (waitpid(node->pid, NULL, 0) < 0 && errno == EINTR) {
  }
  node->pid = 0;
}

int ctk_local_cluster_restart(ctk_local_cluster *self, int i, char *err, size_t err_len) {
  if (self->nodes[i].pid) return 0;
  return spawn(self, i, err, err_len);
}

int ctk_local_cluster_alive(const ctk_local_cluster *self, int i) {
  return self->nodes[i].pid != 0;
}

pid_t ctk_local_cluster_pid(const ctk_local_cluster *self, int i) { return self->nodes[i].pid; }

int ctk_local_cluster_check_exits(ctk_local_cluster *self, char *err, size_t err_len) {
  for (int i = 0; i < self->n; i++) {
    cluster_node *node = &self->nodes[i];
    int status;
    if (!node->pid || waitpid(node->pid, &status, WNOHANG) != node->pid) continue;
    node->pid = 0;
    if (WIFEXITED(status))
      snprintf(err, err_len, "node %d exited with status %d (see %s)", i, WEXITSTATUS(status),
               node->log);
    else
      snprintf(err, err_len, "node %d was killed by signal %d (see %s)", i,
               WIFSIGNALED(status) ? WTERMSIG(status) : 0, node->log);
    return i;
  }
  return -1;
}

void ctk_local_cluster_stop(ctk_local_cluster **self_p, int grace_ms) {
  ctk_local_cluster *self = *self_p;
  if (!self) return;
  *self_p = NULL;
  for (int i = 0; i < self->n; i++)
    if (self->nodes[i].pid) kill(self->nodes[i].pid, SIGTERM);
  uint64_t deadline = (ctk_clock_us() / 1000u) + (uint64_t)(grace_ms > 0 ? grace_ms : 0);
  for (;;) {
    int running = 0;
    for (int i = 0; i < self->n; i++) {
      cluster_node *node = &self->nodes[i];
      if (node->pid && waitpid(node->pid, NULL, WNOHANG) == node->pid) node->pid = 0;
      running += node->pid != 0;
    }
    if (!running || (ctk_clock_us() / 1000u) >= deadline) break;
    ctk_sleep_us(5000);
  }
  for (int i = 0; i < self->n; i++) {
    cluster_node *node = &self->nodes[i];
    ctk_local_cluster_kill(self, i);
    if (node->control) zmq_close(node->control);
    if (node->control_path[0]) unlink(node->control_path);
  }
  if (self->zmq) zmq_ctx_term(self->zmq);
  wire_writer_free(&self->frame);
  free(self);
}
