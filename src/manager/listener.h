/* The listening socket, bound once by the supervisor and inherited by every worker. */
#pragma once

/* Parses "host:port" or "[v6]:port" and binds a non-blocking TCP listener with SO_REUSEPORT. */
int listener_open(const char *address, int *ret_fd);
