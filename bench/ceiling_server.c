/* The ceiling for bench/compare's plaintext cells: the least work the kernel
 * lets a server do to answer HTTP/1.1 requests over io_uring, with no
 * framework and no parser.
 *
 *     ceiling_server --port 8080 [--address 127.0.0.1]
 *
 * One thread, one ring (SINGLE_ISSUER + DEFER_TASKRUN), one multishot
 * accept, one multishot recv per connection drawing from a provided buffer
 * ring, and one send per batch of answers. A request is counted, not
 * parsed: every "\r\n\r\n" ends one (tracked across reads, so a head split
 * over two recvs still counts once), and each is answered with the same
 * bytes whirl's plaintext_server sends (Content-Type, Server, Date,
 * Content-Length: 13, "Hello, World!"). The Date is formatted once at
 * start: refreshing it would cost a few instructions a second and change
 * nothing measured.
 *
 * That is "correct enough" for GET requests without bodies, which is all
 * bench/compare sends; it is a yardstick for how close whirl comes to the
 * machine, never a server. A connection that sends faster than it reads is
 * answered in order: requests arriving while a send is in flight are added
 * to the next batch, so the connection's memory stays one counter.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 4096
#define BUFFER_GROUP 0
#define BUFFER_COUNT 1024 /* a power of two, as the buffer ring requires */
#define BUFFER_SIZE 4096
#define BATCH 256 /* answers in the prebuilt send buffer */

enum op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct conn {
  int fd;
  int matched;        /* bytes of "\r\n\r\n" matched at the end of the last read */
  unsigned pending;   /* requests counted but not yet in a send */
  unsigned in_flight; /* answers in the send now in flight (0: none) */
  size_t sent;        /* bytes of that send already written (a short send resumes) */
  int closing;        /* the peer is gone: free once no send is in flight */
};

static struct io_uring ring;
static struct io_uring_buf_ring* buffers;
static char* buffer_memory;
static char answers[BATCH * 160];
static size_t answer_size;
static volatile sig_atomic_t stopping;

static void on_signal(int signo) {
  (void)signo;
  stopping = 1;
}

static uint64_t tag(void* pointer, enum op op) { return (uint64_t)(uintptr_t)pointer | (uint64_t)op; }

static struct io_uring_sqe* next_sqe(void) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (!sqe) { /* the submission queue is full: hand it to the kernel and retry */
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

static void arm_accept(int listen_fd) {
  struct io_uring_sqe* sqe = next_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(struct conn* c) {
  struct io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BUFFER_GROUP;
  io_uring_sqe_set_data64(sqe, tag(c, OP_RECV));
}

/* Sends the answers for up to BATCH pending requests, from the shared
 * read-only buffer (never written after start, so any number of sends may
 * read it at once). */
static void send_pending(struct conn* c) {
  if (c->in_flight || c->pending == 0 || c->closing) return;
  c->in_flight = c->pending < BATCH ? c->pending : BATCH;
  c->pending -= c->in_flight;
  c->sent = 0;
  struct io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, c->fd, answers, c->in_flight * answer_size, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
}

static void resume_send(struct conn* c) {
  struct io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, c->fd, answers + c->sent, c->in_flight * answer_size - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
}

static void release(struct conn* c) {
  close(c->fd);
  free(c);
}

/* Counts the request heads that end in these bytes. */
static void count_requests(struct conn* c, const char* data, size_t size) {
  static const char kEnd[4] = {'\r', '\n', '\r', '\n'};
  int matched = c->matched;
  for (size_t i = 0; i < size; ++i) {
    char ch = data[i];
    if (ch == kEnd[matched]) {
      if (++matched == 4) {
        ++c->pending;
        matched = 0;
      }
    } else {
      matched = ch == '\r' ? 1 : 0;
    }
  }
  c->matched = matched;
}

static void give_back(unsigned id) {
  io_uring_buf_ring_add(buffers, buffer_memory + (size_t)id * BUFFER_SIZE, BUFFER_SIZE, (unsigned short)id,
                        io_uring_buf_ring_mask(BUFFER_COUNT), 0);
  io_uring_buf_ring_advance(buffers, 1);
}

static void on_recv(struct conn* c, struct io_uring_cqe* cqe) {
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (cqe->res > 0) count_requests(c, buffer_memory + (size_t)id * BUFFER_SIZE, (size_t)cqe->res);
    give_back(id);
  }
  int more = cqe->flags & IORING_CQE_F_MORE;
  if (cqe->res > 0 || cqe->res == -ENOBUFS) {
    send_pending(c);
    if (!more) arm_recv(c); /* the kernel ended the multishot (out of buffers): start it again */
    return;
  }
  /* 0: the peer closed; < 0: reset or error. Either way this connection is done. */
  if (more) return; /* a multishot that goes on after an error: wait for its last completion */
  c->closing = 1;
  if (!c->in_flight) release(c);
}

static void on_send(struct conn* c, struct io_uring_cqe* cqe) {
  if (cqe->res <= 0 || c->closing) {
    c->in_flight = 0;
    if (c->closing) {
      release(c);
    } else {
      /* the peer will not read: stop reading too, and let recv's end free it */
      shutdown(c->fd, SHUT_RDWR);
    }
    return;
  }
  c->sent += (size_t)cqe->res;
  if (c->sent < c->in_flight * answer_size) {
    resume_send(c);
    return;
  }
  c->in_flight = 0;
  send_pending(c);
}

static void on_accept(int listen_fd, struct io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(listen_fd);
  if (cqe->res < 0) return; /* EMFILE, ECONNABORTED: this one is lost, the next may not be */
  int one = 1;
  setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct conn* c = calloc(1, sizeof *c);
  if (!c) {
    close(cqe->res);
    return;
  }
  c->fd = cqe->res;
  arm_recv(c);
}

static void build_answers(void) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  char one[160];
  int n = snprintf(one, sizeof one,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: whirl\r\nDate: %s\r\n"
                   "Content-Length: 13\r\n\r\nHello, World!",
                   date);
  answer_size = (size_t)n;
  for (int i = 0; i < BATCH; ++i) memcpy(answers + (size_t)i * answer_size, one, answer_size);
}

static int listen_on(const char* address, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, address, &sin.sin_addr) != 1) {
    fprintf(stderr, "ceiling_server: not an IPv4 address: %s\n", address);
    exit(2);
  }
  if (bind(fd, (struct sockaddr*)&sin, sizeof sin) < 0 || listen(fd, 4096) < 0) {
    perror("ceiling_server: bind/listen");
    exit(1);
  }
  return fd;
}

static void setup_buffers(void) {
  size_t ring_bytes = BUFFER_COUNT * sizeof(struct io_uring_buf);
  buffers = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  buffer_memory = malloc((size_t)BUFFER_COUNT * BUFFER_SIZE);
  if (buffers == MAP_FAILED || !buffer_memory) {
    perror("ceiling_server: buffers");
    exit(1);
  }
  io_uring_buf_ring_init(buffers);
  struct io_uring_buf_reg reg = {
      .ring_addr = (uint64_t)(uintptr_t)buffers, .ring_entries = BUFFER_COUNT, .bgid = BUFFER_GROUP};
  int rc = io_uring_register_buf_ring(&ring, &reg, 0);
  if (rc < 0) {
    fprintf(stderr, "ceiling_server: io_uring_register_buf_ring: %s\n", strerror(-rc));
    exit(1);
  }
  for (unsigned id = 0; id < BUFFER_COUNT; ++id)
    io_uring_buf_ring_add(buffers, buffer_memory + (size_t)id * BUFFER_SIZE, BUFFER_SIZE, (unsigned short)id,
                          io_uring_buf_ring_mask(BUFFER_COUNT), (int)id);
  io_uring_buf_ring_advance(buffers, BUFFER_COUNT);
}

int main(int argc, char** argv) {
  int port = 8080;
  const char* address = "127.0.0.1";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0) {
      port = atoi(argv[i + 1]);
    } else if (strcmp(argv[i], "--address") == 0) {
      address = argv[i + 1];
    } else {
      fprintf(stderr, "usage: ceiling_server --port N [--address IPV4]\n");
      return 2;
    }
  }
  struct io_uring_params params = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
  int rc = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
  if (rc < 0) {
    fprintf(stderr, "ceiling_server: io_uring_queue_init: %s\n", strerror(-rc));
    return 1;
  }
  setup_buffers();
  build_answers();
  int listen_fd = listen_on(address, port);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  arm_accept(listen_fd);
  printf("ceiling_server: serving http://%s:%d/\n", address, port);
  fflush(stdout);

  while (!stopping) {
    rc = io_uring_submit_and_wait(&ring, 1);
    if (rc < 0 && rc != -EINTR) {
      fprintf(stderr, "ceiling_server: io_uring_submit_and_wait: %s\n", strerror(-rc));
      return 1;
    }
    struct io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      uint64_t data = io_uring_cqe_get_data64(cqe);
      struct conn* c = (struct conn*)(uintptr_t)(data & ~(uint64_t)7);
      switch ((enum op)(data & 7)) {
        case OP_ACCEPT:
          on_accept(listen_fd, cqe);
          break;
        case OP_RECV:
          on_recv(c, cqe);
          break;
        case OP_SEND:
          on_send(c, cqe);
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
  return 0;
}
