/* cmd_plot.c: `ctk plot DIR` (see plot.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "plot.h"

int ctk_cmd_plot(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: ctk plot RESULTS_DIR\n");
    return 2;
  }
  char err[1024];
  ctk_plot_report report;
  int rc = ctk_plot(argv[1], &report, err, sizeof err);
  if (rc) {
    fprintf(stderr, "ctk plot: %s\n", err);
    return rc;
  }
  for (int i = 0; i < report.n_charts; i++)
    printf("  %s.png  %s.svg\n", report.charts[i], report.charts[i]);
  printf("report: %s\n", report.html_path);
  return 0;
}
