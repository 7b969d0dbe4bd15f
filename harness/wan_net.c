/* wan_net.c: network namespaces, TUN devices and addresses for a `ctk run` with cluster.wan (see
 * wan_net.h); the `ip` commands, their errors, and the removal of what killed runs left. */
#include "wan_net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wan_delay.h"

#define NETNS_DIR    "/run/netns"
#define NETNS_PREFIX "ctk-"
#define CLIENT_HOST  101 /* site s's clients are at .(101 + s); node i at .(i + 1) */
#define IP_ARGS_MAX  16
#define TUN_QUEUE    "10000" /* packets the kernel queues for the delay line to read (500) */

extern char **environ;

struct ctk_wan_net {
  int n_nodes, n_sites;
  int pid;
  unsigned a, b; /* the run's subnet 10.a.b.0/24 */
  char netns[CTK_MAX_NODES][32];
  char node_dev[CTK_MAX_NODES][IFNAMSIZ];
  char client_dev[IFNAMSIZ];
  char endpoint[CTK_MAX_NODES][CTK_ENDPOINT_LEN];
  char client_address[CTK_MAX_SITES][20];
  int node_fd[CTK_MAX_NODES]; /* -1: not open */
  int client_fd;
  int netns_made[CTK_MAX_NODES];
  ctk_delay_line *delay;
};

/* ---- running `ip` ---- */

/* Runs `ip ARGS...` (a NULL-terminated list) and waits for it. Returns 0, or -1 with the command
 * line and what it wrote to stderr in err. */
static int run_ip(char *err, size_t err_len, ...) {
  char *argv[IP_ARGS_MAX + 2] = {"ip"};
  int argc = 1;
  va_list ap;
  va_start(ap, err_len);
  for (char *arg; argc < IP_ARGS_MAX && (arg = va_arg(ap, char *)) != NULL;) argv[argc++] = arg;
  va_end(ap);
  argv[argc] = NULL;
  char line[512];
  size_t used = 0;
  for (int k = 0; k < argc && used < sizeof line; k++)
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", k ? " " : "", argv[k]);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC)) {
    snprintf(err, err_len, "`%s`: pipe: %s", line, strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, "ip", &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  char out[256] = "";
  size_t got = 0;
  for (ssize_t n;
       got < sizeof out - 1 && (n = read(pipe_fds[0], out + got, sizeof out - 1 - got)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    got += (size_t)n;
  }
  out[got] = '\0';
  close(pipe_fds[0]);
  if (rc != 0) {
    snprintf(err, err_len, "`%s`: cannot run ip: %s (is iproute2 installed?)", line, strerror(rc));
    return -1;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' ')) out[--got] = '\0';
  snprintf(err, err_len, "`%s` failed (%s %d): %s", line,
           WIFEXITED(status) ? "exit status" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), got ? out : "(no message)");
  return -1;
}

/* ---- devices ---- */

/* Opens a new TUN device (IPv4 packets without a header) named `name`, non-blocking. */
static int tun_open(const char *name, char *err, size_t err_len) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, err_len, "cannot open /dev/net/tun: %s (the kernel needs TUN support)",
             strerror(errno));
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    snprintf(err, err_len, "cannot create the TUN device %s: %s", name, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- stale namespaces ---- */

/* 1 while process pid runs; a zombie (killed, not yet reaped by its parent) does not. */
static int process_runs(int pid) {
  char path[64], stat[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return kill(pid, 0) == 0 || errno != ESRCH; /* no /proc: ask the kernel */
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *end = strrchr(stat, ')'); /* "pid (comm) S ...": comm may hold anything */
  return !end || (end[1] == ' ' && end[2] != 'Z' && end[2] != 'X');
}

int ctk_wan_net_remove_stale(char *err, size_t err_len) {
  DIR *dir = opendir(NETNS_DIR);
  if (!dir) return 0; /* no namespace was ever named */
  int removed = 0, rc = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL && rc == 0;) {
    int pid;
    char rest;
    if (strncmp(e->d_name, NETNS_PREFIX, strlen(NETNS_PREFIX)) != 0 ||
        sscanf(e->d_name + strlen(NETNS_PREFIX), "%d-%c", &pid, &rest) != 2 || pid <= 0)
      continue;
    if (process_runs(pid)) continue; /* its runner is alive */
    if (run_ip(err, err_len, "netns", "delete", e->d_name, (char *)NULL)) rc = -1;
    removed++;
  }
  closedir(dir);
  return rc ? -1 : removed;
}

/* ---- building and removing ---- */

static int setup_node(ctk_wan_net *self, int i, char *err, size_t err_len) {
  if (run_ip(err, err_len, "netns", "add", self->netns[i], (char *)NULL)) return -1;
  self->netns_made[i] = 1;
  self->node_fd[i] = tun_open(self->node_dev[i], err, err_len);
  if (self->node_fd[i] < 0) return -1;
  char address[32];
  snprintf(address, sizeof address, "10.%u.%u.%d/24", self->a, self->b, i + 1);
  if (run_ip(err, err_len, "link", "set", self->node_dev[i], "netns", self->netns[i],
             (char *)NULL) ||
      run_ip(err, err_len, "-n", self->netns[i], "addr", "add", address, "dev", self->node_dev[i],
             (char *)NULL) ||
      run_ip(err, err_len, "-n", self->netns[i], "link", "set", self->node_dev[i], "txqueuelen",
             TUN_QUEUE, "up", (char *)NULL) ||
      run_ip(err, err_len, "-n", self->netns[i], "link", "set", "lo", "up", (char *)NULL))
    return -1;
  return 0;
}

static int setup_clients(ctk_wan_net *self, char *err, size_t err_len) {
  self->client_fd = tun_open(self->client_dev, err, err_len);
  if (self->client_fd < 0) return -1;
  for (int s = 0; s < self->n_sites; s++) {
    char address[32];
    snprintf(address, sizeof address, "%s/32", self->client_address[s]);
    if (run_ip(err, err_len, "addr", "add", address, "dev", self->client_dev, (char *)NULL))
      return -1;
  }
  /* The nodes (.1 to .16) are reached through the clients' device. */
  char nodes[32];
  snprintf(nodes, sizeof nodes, "10.%u.%u.0/27", self->a, self->b);
  if (run_ip(err, err_len, "link", "set", self->client_dev, "txqueuelen", TUN_QUEUE, "up",
             (char *)NULL) ||
      run_ip(err, err_len, "route", "add", nodes, "dev", self->client_dev, (char *)NULL))
    return -1;
  return 0;
}

static int start_delay(ctk_wan_net *self, const ctk_config *config, char *err, size_t err_len) {
  ctk_delay_map map;
  memset(&map, 0, sizeof map);
  memset(map.port_of, -1, sizeof map.port_of);
  memset(map.site_of, -1, sizeof map.site_of);
  map.subnet = 10u << 24 | self->a << 16 | self->b << 8;
  int fds[WAN_DELAY_MAX_PORTS];
  for (int i = 0; i < self->n_nodes; i++) {
    fds[i] = self->node_fd[i];
    map.port_of[i + 1] = (int8_t)i;
    map.site_of[i + 1] = (int8_t)config->cluster.site_of_node[i];
  }
  fds[self->n_nodes] = self->client_fd;
  for (int s = 0; s < self->n_sites; s++) {
    map.port_of[CLIENT_HOST + s] = (int8_t)self->n_nodes;
    map.site_of[CLIENT_HOST + s] = (int8_t)s;
  }
  for (int a = 0; a < self->n_sites; a++)
    for (int b = 0; b < self->n_sites; b++)
      map.delay_us[a][b] = (uint64_t)(config->sim.latency_ms[a][b] * 1000 + 0.5);
  self->delay = ctk_delay_line_start(fds, self->n_nodes + 1, &map, err, err_len);
  return self->delay ? 0 : -1;
}

ctk_wan_net *ctk_wan_net_start(const ctk_config *config, char *err, size_t err_len) {
  if (geteuid() != 0) {
    snprintf(err, err_len,
             "cluster.wan = \"%s\": `ctk run` emulates the wide-area network with a network "
             "namespace per node, which needs root (run it as root, or use `ctk sim`)",
             config->cluster.wan);
    return NULL;
  }
  if (ctk_wan_net_remove_stale(err, err_len) < 0) return NULL;
  ctk_wan_net *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  self->n_nodes = config->cluster.nodes;
  self->n_sites = config->sim.n_sites > 0 ? config->sim.n_sites : 1;
  self->pid = (int)getpid();
  self->a = 64 + ((unsigned)self->pid >> 8) % 128;
  self->b = (unsigned)self->pid & 0xff;
  self->client_fd = -1;
  snprintf(self->client_dev, IFNAMSIZ, "ctk%dc", self->pid);
  for (int s = 0; s < self->n_sites; s++)
    snprintf(self->client_address[s], sizeof self->client_address[s], "10.%u.%u.%d", self->a,
             self->b, CLIENT_HOST + s);
  for (int i = 0; i < self->n_nodes; i++) {
    self->node_fd[i] = -1;
    snprintf(self->netns[i], sizeof self->netns[i], NETNS_PREFIX "%d-n%d", self->pid, i);
    char dev[32]; /* "ctk<pid>n<i>": at most 3 + 7 + 1 + 2 bytes, within IFNAMSIZ */
    snprintf(dev, sizeof dev, "ctk%dn%d", self->pid, i);
    snprintf(self->node_dev[i], IFNAMSIZ, "%.15s", dev);
    snprintf(self->endpoint[i], CTK_ENDPOINT_LEN, "tcp://10.%u.%u.%d:%d", self->a, self->b, i + 1,
             config->cluster.base_port + i);
  }
  int rc = 0;
  for (int i = 0; i < self->n_nodes && rc == 0; i++) rc = setup_node(self, i, err, err_len);
  if (rc == 0) rc = setup_clients(self, err, err_len);
  if (rc == 0) rc = start_delay(self, config, err, err_len);
  char ignored[CTK_ERR_LEN];
  if (rc) ctk_wan_net_stop(&self, ignored, sizeof ignored); /* err says what failed first */
  return self;
}

const char *ctk_wan_net_netns(const ctk_wan_net *self, int node) { return self->netns[node]; }

const char *ctk_wan_net_endpoint(const ctk_wan_net *self, int node) { return self->endpoint[node]; }

const char *ctk_wan_net_client_address(const ctk_wan_net *self, int site) {
  return self->client_address[site];
}

int ctk_wan_net_stop(ctk_wan_net **self_p, char *err, size_t err_len) {
  ctk_wan_net *self = *self_p;
  if (!self) return 0;
  *self_p = NULL;
  ctk_delay_line_stop(&self->delay);
  int rc = 0;
  for (int i = 0; i < self->n_nodes; i++) {
    /* The device goes with its descriptor; the namespace once nothing runs in it. */
    if (self->node_fd[i] >= 0) close(self->node_fd[i]);
    char e[CTK_ERR_LEN];
    if (self->netns_made[i] &&
        run_ip(e, sizeof e, "netns", "delete", self->netns[i], (char *)NULL) && rc == 0) {
      snprintf(err, err_len, "%s", e);
      rc = -1;
    }
  }
  if (self->client_fd >= 0) close(self->client_fd);
  free(self);
  return rc;
}
