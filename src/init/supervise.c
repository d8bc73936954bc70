/* Start the application and supervise it (see supervise.h). */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* In the child, between fork and exec: only async-signal-safe calls, errors reported as the exit
 * status 127 after a message on stderr. */
_Noreturn static void
child_exec(const struct supervise_spec *spec, const sigset_t *old_mask)
{
    const char *step = "exec";

    if (spec->chroot_dir && (chroot(spec->chroot_dir) < 0 || chdir("/") < 0)) {
        step = "chroot";
        goto fail;
    }
    if (spec->switch_user) {
        if (setgroups(1, &spec->gid) < 0) {
            step = "setgroups";
            goto fail;
        }
        if (setgid(spec->gid) < 0) {
            step = "setgid";
            goto fail;
        }
        if (setuid(spec->uid) < 0) {
            step = "setuid";
            goto fail;
        }
    }
    if (spec->workdir && chdir(spec->workdir) < 0) {
        step = "chdir to the working directory";
        goto fail;
    }
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    execve(spec->exec_path, spec->argv, spec->envp);
fail:
    dprintf(STDERR_FILENO, "cloister-init: cannot start %s: %s failed: %s\n", spec->exec_path, step,
            strerror(errno));
    _exit(127);
}

static int
exit_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

int
supervise_run(const struct supervise_spec *spec, int64_t deadline, int64_t (*on_deadline)(void *),
              void *userdata)
{
    sigset_t set, old;
    pid_t child;

    sigemptyset(&set);
    for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
        sigaddset(&set, forwarded[i]);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
        return -errno;
    child = fork();
    if (child < 0)
        return -errno;
    if (child == 0)
        child_exec(spec, &old);
    log_info("Started %s as pid %d (uid %u, gid %u)", spec->argv[0], (int)child,
             (unsigned)(spec->switch_user ? spec->uid : getuid()),
             (unsigned)(spec->switch_user ? spec->gid : getgid()));

    for (;;) {
        int64_t now = (int64_t)time(NULL);
        struct timespec timeout = { .tv_sec = deadline > now ? deadline - now : 0 };
        siginfo_t info;
        int sig;

        if (deadline > 0 && deadline <= now) {
            deadline = on_deadline(userdata);
            continue;
        }
        sig = deadline > 0 ? sigtimedwait(&set, &info, &timeout) : sigwaitinfo(&set, &info);
        if (sig < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        if (sig != SIGCHLD) {
            log_info("Forwarding signal %d to pid %d", sig, (int)child);
            kill(child, sig);
            continue;
        }
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);

            if (pid <= 0)
                break;
            if (pid == child) {
                log_info("Application exited with status %d", exit_status(status));
                return exit_status(status);
            }
        }
    }
}
