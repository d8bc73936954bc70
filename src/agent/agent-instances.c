#include <errno.h>
#include <string.h>

#include "agent.h"
#include "crypto-util.h"

int64_t
agent_now(void)
{
    return time_monotonic_ms() / 1000;
}

int
agent_instance_touch(struct agent *a, const char *id, int64_t now)
{
    for (unsigned i = 0; i < a->n_instances; i++)
        if (strcmp(a->instances[i].id, id) == 0) {
            a->instances[i].last_seen = now;
            return 0;
        }
    agent_instances_expire(a, now);
    if (a->n_instances >= AGENT_INSTANCES_MAX)
        return -ENOSPC;
    if (!a->instances) {
        a->instances = calloc(AGENT_INSTANCES_MAX, sizeof(*a->instances));
        if (!a->instances)
            return -ENOMEM;
    }
    memcpy(a->instances[a->n_instances].id, id, strlen(id) + 1);
    a->instances[a->n_instances].last_seen = now;
    a->n_instances++;
    return 1;
}

/* Instances not heard from for three refresh intervals have stopped (or moved): drop them, so
 * the next check-in no longer reports them running. */
void
agent_instances_expire(struct agent *a, int64_t now)
{
    int64_t interval = a->state ? a->state->refresh_interval : 60;
    unsigned j = 0;

    for (unsigned i = 0; i < a->n_instances; i++)
        if (now - a->instances[i].last_seen <= 3 * interval)
            a->instances[j++] = a->instances[i];
    a->n_instances = j;
}
