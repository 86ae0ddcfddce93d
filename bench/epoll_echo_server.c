/* The honest baseline for bench/echo: a minimal single-threaded epoll echo
 * server in plain C. Level-triggered, non-blocking, one 64 KiB buffer,
 * writes back what it read (blocking the connection's reads while a write
 * is pending, so it never buffers unboundedly).
 *
 *     epoll_echo_server PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUFFER_SIZE 65536

struct conn {
  int fd;
  char* pending; /* unsent bytes, or NULL */
  size_t pending_len;
  size_t pending_off;
};

static void close_conn(int ep, struct conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pending);
  free(c);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: epoll_echo_server PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(listener, 1024) != 0) {
    perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  static char buffer[BUFFER_SIZE];
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    for (int i = 0; i < n; ++i) {
      struct conn* c = events[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn* nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      if (c->pending != NULL) { /* EPOLLOUT: finish the pending write */
        ssize_t w = write(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
        if (w < 0 && errno != EAGAIN) {
          close_conn(ep, c);
          continue;
        }
        if (w > 0) c->pending_off += (size_t)w;
        if (c->pending_off == c->pending_len) {
          free(c->pending);
          c->pending = NULL;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
        }
        continue;
      }
      ssize_t r = read(c->fd, buffer, sizeof buffer);
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        close_conn(ep, c);
        continue;
      }
      if (r < 0) continue;
      ssize_t w = write(c->fd, buffer, (size_t)r);
      if (w < 0 && errno != EAGAIN) {
        close_conn(ep, c);
        continue;
      }
      if (w < 0) w = 0;
      if (w < r) {
        c->pending_len = (size_t)(r - w);
        c->pending_off = 0;
        c->pending = malloc(c->pending_len);
        memcpy(c->pending, buffer + w, c->pending_len);
        struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
      }
    }
  }
}
