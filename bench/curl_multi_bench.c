/* bench/curl_multi_bench.c: libcurl's multi interface, the peer of
 * bench/client_bench in the client cell (bench/client_cell.py).
 *
 *     curl_multi_bench URL [CONCURRENCY] [SECONDS]
 *
 * CONCURRENCY easy handles on one multi handle, each re-added as soon as
 * its transfer completes (libcurl keeps the connection alive and reuses it),
 * for SECONDS after a one-second warm-up; bodies are discarded. Prints the
 * same JSON object as client_bench. Built by client_compare.sh against
 * Debian's libcurl4-openssl-dev:  cc -O2 curl_multi_bench.c -lcurl
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data;
  (void)user;
  return size * count;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: curl_multi_bench URL [CONCURRENCY] [SECONDS]\n");
    return 2;
  }
  const char *url = argv[1];
  int concurrency = argc > 2 ? atoi(argv[2]) : 64;
  double seconds = argc > 3 ? atof(argv[3]) : 5;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)concurrency);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)concurrency);
  for (int i = 0; i < concurrency; ++i) {
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_multi_add_handle(multi, easy);
  }
  double begin = now(), start = begin, cpu_start = 0;
  int measuring = 0;
  unsigned long requests = 0, errors = 0;
  long connections = 0; /* opened, warm-up included (as client_bench counts) */
  for (;;) {
    int running = 0;
    curl_multi_perform(multi, &running);
    CURLMsg *message;
    int left;
    while ((message = curl_multi_info_read(multi, &left)) != NULL) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL *easy = message->easy_handle;
      long code = 0, opened = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
      curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &opened);
      connections += opened;
      if (measuring) {
        if (message->data.result == CURLE_OK && code == 200) {
          ++requests;
        } else {
          ++errors;
        }
      }
      curl_multi_remove_handle(multi, easy);
      curl_multi_add_handle(multi, easy); /* again, on the kept-alive connection */
    }
    double t = now();
    if (!measuring && t - begin >= 1.0) {
      measuring = 1;
      start = t;
      cpu_start = cpu_seconds();
    }
    if (measuring && t - start >= seconds) break;
    curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  printf("{\"requests\": %lu, \"seconds\": %.3f, \"cpu\": %.3f, \"errors\": %lu, \"connections\": %ld}\n", requests,
         now() - start, cpu_seconds() - cpu_start, errors, connections);
  fflush(stdout);
  _Exit(0);
}
