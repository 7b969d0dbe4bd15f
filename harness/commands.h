/* commands.h: the subcommands of the `ctk` command line. Each takes the arguments from its own
 * name on (argv[0] is "sim", "check", ...) and returns the process exit status. */
#ifndef CTK_COMMANDS_H
#define CTK_COMMANDS_H

int ctk_cmd_sim(int argc, char **argv);
int ctk_cmd_sweep(int argc, char **argv);
int ctk_cmd_check(int argc, char **argv);
int ctk_cmd_config(int argc, char **argv);

#endif /* CTK_COMMANDS_H */
