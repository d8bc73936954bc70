/* The event loop of a single-threaded server process (manager worker, node agent). */
#pragma once

#include <event2/event.h>

/* A libevent base without locking (one thread uses it) and with epoll's change list, so that a
 * connection enabling and disabling reading and writing within one loop turn costs one
 * epoll_ctl instead of several: system calls are the largest cost per request on virtual
 * machines. NULL when out of memory. */
struct event_base *event_loop_new(void);
