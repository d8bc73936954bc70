/* cloister-init's last stage: start the application and stay as a small supervisor.
 *
 * The child switches to the image's user (when running as root and the user differs), changes to
 * the working directory and execs the program with exactly the given environment. The parent
 * forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, reaps every child (it may
 * be PID 1), calls on_deadline() whenever the deadline it returns passes (cloister-init: the
 * certificate renewal and the heartbeats), and returns the application's exit status (128 +
 * signal number when it was killed by a signal). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct supervise_spec {
    const char *chroot_dir; /* NULL, or the root to change into first (CLOISTER_ROOT as root) */
    const char *exec_path;  /* the program's path after the chroot, if any */
    char *const *argv;      /* argv[0] as the image names it */
    char *const *envp;
    const char *workdir; /* after the chroot, if any */
    bool switch_user;
    uid_t uid;
    gid_t gid;
};

/* on_deadline() is called when the deadline (CLOCK_REALTIME, seconds) has passed; it returns the
 * next deadline (0: none). Returns the exit status to exit with, or negative errno if the child
 * could not be started. */
int supervise_run(const struct supervise_spec *spec, int64_t first_deadline,
                  int64_t (*on_deadline)(void *userdata), void *userdata);
