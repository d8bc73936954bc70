/* The operations subcommands of cloister-manager: backup, restore and migrate-store
 * (docs/operations.md). Each runs once and exits; none starts the server. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses of a subcommand. */
#define OPS_EXIT_OK 0
#define OPS_EXIT_FAILED 1
#define OPS_EXIT_USAGE 2

/* True when name is a subcommand (argv[1] of cloister-manager). */
bool ops_is_command(const char *name);

/* Runs the subcommand argv[0] with its flags argv[1..argc-1]; returns the exit status. */
int ops_main(int argc, char **argv);

/* One line per subcommand, for the server's --help. */
void ops_usage_summary(FILE *out);
